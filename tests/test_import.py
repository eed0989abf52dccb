import subprocess
import sys


def test_import_pulls_in_no_heavy_dependencies() -> None:
    code = (
        "import sys, model2vec\n"
        "heavy = {'torch', 'transformers', 'sklearn', 'onnxruntime'}\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & heavy))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_public_api() -> None:
    import model2vec
    from model2vec.model import StaticModel

    assert model2vec.StaticModel is StaticModel
    assert isinstance(model2vec.__version__, str)
