"""The only module that talks to the Hugging Face Hub: download (cache first) and push."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from model2vec.format import strict_bool

# Files a static model can need, in any of the supported layouts.
# Files a teacher can need (transformers/sentence-transformers weights, ONNX, vocabularies); the
# patterns also match inside module folders such as 1_Pooling/ or onnx/.
TEACHER_FILE_PATTERNS = ["*.json", "*.safetensors", "*.bin", "*.onnx", "*.txt", "*.model"]
MODEL_FILE_PATTERNS = [
    "*.json",
    "*.safetensors",
    "*.skops",  # the scikit-learn head of a StaticModelPipeline
    "README.md",
    "0_StaticEmbedding/*",
    "1_Normalize/*",
]


class HubError(OSError):
    """The hub could not be reached or refused a request; the message lists the ways out."""


class HubNotFoundError(HubError, FileNotFoundError):
    """A model is neither a local folder nor fetchable from the hub (also a `FileNotFoundError`)."""


def _transport_errors() -> tuple[type[BaseException], ...]:
    """Exceptions the hub client lets through for network failures, besides `OSError`.

    huggingface_hub >= 1.0 talks through httpx (2.x: its fork httpx2), whose errors are not OSErrors;
    only the modules it has already imported are looked at.
    """
    found: list[type[BaseException]] = [OSError]
    for name in ("httpx", "httpx2"):
        module = sys.modules.get(name)
        error = getattr(module, "HTTPError", None) if module is not None else None
        if isinstance(error, type) and issubclass(error, BaseException):
            found.append(error)
    return tuple(found)


def _reason(error: BaseException) -> str:
    """Say in a few words why a hub call failed (the client's own message, first line, follows)."""
    from huggingface_hub.errors import GatedRepoError, LocalEntryNotFoundError, RepositoryNotFoundError

    detail = (str(error).strip().splitlines() or [""])[0]
    if isinstance(error, GatedRepoError):
        kind = "the repository is gated: accept its terms on the hub and pass a token"
    elif isinstance(error, RepositoryNotFoundError):
        kind = "no such repository, or it is private and no valid token was given"
    elif isinstance(error, LocalEntryNotFoundError):
        kind = "not in the hub cache and the hub is unreachable"
    else:
        status = getattr(getattr(error, "response", None), "status_code", None)
        if status in (401, 403):
            kind = f"HTTP {status}: the token is missing, invalid or lacks access"
        elif status is not None:
            kind = f"HTTP {status}"
        else:
            kind = "the hub is unreachable"
    return f"{kind}; {type(error).__name__}: {detail}" if detail else kind


def _cache_hint() -> str:
    """Where the hub cache is and how to point elsewhere."""
    from huggingface_hub import constants

    return (
        f"the hub cache at {constants.HF_HUB_CACHE}: copy a cache that holds the repository there, or point "
        "HF_HOME / HF_HUB_CACHE at one (HF_HUB_OFFLINE=1 then skips the network)"
    )


def _ways_out(lines: Sequence[str]) -> str:
    return "Ways out:\n" + "\n".join(f"  - {line}" for line in lines)


def resolve_model_path(
    path: str | os.PathLike[str],
    token: str | None = None,
    subfolder: str | None = None,
    force_download: bool = False,
    allow_patterns: list[str] | None = None,
    hints: Sequence[str] = (),
) -> Path:
    """Turn a local folder or a hub repository id into a local folder.

    A local path that exists is used as is. Otherwise the id is looked up in the hub cache first
    (no network when cached); only if it is not cached (or `force_download`) is it downloaded.

    :param path: A local folder or a repository id such as "org/name".
    :param token: Hub token for private repositories.
    :param subfolder: A folder inside the model folder or repository.
    :param force_download: Re-download even when cached.
    :param allow_patterns: Files to fetch from a repository (default: those of a static model).
    :return: The local folder holding the model.
    :raises FileNotFoundError: If the path is neither a local folder nor a downloadable repository.
    :raises TypeError: If `force_download` is not True or False.
    """
    force_download = strict_bool(force_download, "force_download")
    local = Path(path).expanduser()
    if local.exists():
        return local / subfolder if subfolder else local
    repo_id = str(path)
    if repo_id.count("/") > 1 or repo_id.startswith((".", "/", "~")):
        raise FileNotFoundError(f"Model folder {path} does not exist (and it is not a hub repository id).")

    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    wanted = allow_patterns or MODEL_FILE_PATTERNS
    patterns = wanted if not subfolder else [f"{subfolder}/{p}" for p in wanted]
    folder: str | None = None
    if not force_download:
        try:
            folder = snapshot_download(repo_id, token=token, allow_patterns=patterns, local_files_only=True)
        except (LocalEntryNotFoundError, FileNotFoundError, ValueError):
            folder = None
    if folder is None:
        try:
            folder = snapshot_download(repo_id, token=token, allow_patterns=patterns, force_download=force_download)
        except _transport_errors() as error:  # hub errors are OSErrors too
            ways = [f"pass the path of a local model folder ({local.resolve()} does not exist)", _cache_hint(), *hints]
            raise HubNotFoundError(
                f"{path} is not a local folder and could not be fetched from the hub: {_reason(error)}.\n"
                + _ways_out(ways)
            ) from error
    root = Path(folder)
    return root / subfolder if subfolder else root


def push_saved(
    save: Callable[[Path], Path],
    repo_id: str,
    private: bool = False,
    token: str | None = None,
    subfolder: str | None = None,
) -> str:
    """Save something into a temporary folder with `save` and upload that folder to a hub repository.

    :param save: Writes the model into the given (not yet existing) folder and returns the folder.
    :param repo_id: The target repository, e.g. "org/name" (created if missing).
    :param private: Create the repository as private.
    :param token: Hub token.
    :param subfolder: Upload into this folder of the repository.
    :return: The commit reference returned by the hub client.
    """
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        folder = save(Path(tmp) / "model")
        return push_folder(folder, repo_id, private=private, token=token, subfolder=subfolder)


def push_folder(
    folder: Path,
    repo_id: str,
    private: bool = False,
    token: str | None = None,
    subfolder: str | None = None,
) -> str:
    """Upload a saved model folder to a hub repository, creating the repository if needed.

    :param folder: The local folder to upload.
    :param repo_id: The target repository, e.g. "org/name".
    :param private: Create the repository as private.
    :param token: Hub token.
    :param subfolder: Upload into this folder of the repository.
    :return: The URL of the commit, as returned by the hub client.
    :raises TypeError: If `private` is not True or False.
    :raises HubError: If the hub cannot be reached or refuses the upload (no token, no write access,
        offline); the message says why and lists the ways out, like `resolve_model_path`'s.
    """
    private = strict_bool(private, "private")
    from huggingface_hub import HfApi, constants

    try:
        api = HfApi(token=token)
        api.create_repo(repo_id=repo_id, private=private, exist_ok=True, repo_type="model")
        commit = api.upload_folder(
            repo_id=repo_id, folder_path=str(folder), path_in_repo=subfolder or "", repo_type="model"
        )
    except _transport_errors() as error:  # hub errors are OSErrors too
        ways = [
            f"check the network: the hub is {constants.ENDPOINT} (HF_ENDPOINT), and HF_HUB_OFFLINE must be unset",
            f"pass token= or set HF_TOKEN (or `hf auth login`) with a token that may write to {repo_id}",
            "save locally with save_pretrained(folder) and upload that folder later (`hf upload REPO FOLDER`)",
        ]
        raise HubError(f"{repo_id} could not be pushed to the hub: {_reason(error)}.\n" + _ways_out(ways)) from error
    return str(commit)
