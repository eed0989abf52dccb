/* Compiled kernels for the encode hot path. Optional: without them `model2vec.pooling` and
 * `model2vec.tokenization` use numpy/Python paths that give the same results (see `_compiled.py`).
 *
 * StrIndex (further down): the word cache's index, a compact str -> number hash table that can also
 *     split texts at spaces and look the words up in one pass.
 *
 * scan_unigram_vocab and UnigramVocab (at the end): a tokenizer.json's Unigram vocabulary read without
 *     the Rust model, and its exact Viterbi segmentation (for large multilingual vocabularies), of
 *     pre-tokens or of whole texts that a Metaspace tokenizer splits at spaces alone.
 *
 * segment_sums(table, ids, offsets, weights, mapping, out)
 *     out[t] = sum over k in [offsets[t], offsets[t+1]) of w(ids[k]) * table[row(ids[k])], in float32,
 *     adding the rows strictly in token order: ((r0 + r1) + r2) + ... with r0 written, not added to 0.
 *     Those are exactly the float32 operations of the numpy path in pooling.py, so both give the same
 *     bits. The build passes -ffp-contract=off: a fused multiply-add would round once instead of twice.
 *
 * All arguments are buffers (numpy arrays): table float32, float16 or int8 (rows, dim) C-contiguous;
 * ids and offsets int64 1-D; weights float32 1-D or None; mapping int64 1-D or None; out float32
 * (n, dim), writable.
 * Rows are converted to float32 exactly (like numpy's astype). Every offset and id is checked before
 * it is used; the sums run without the GIL, on AVX2/F16C when the CPU has them (chosen at run time).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* True when the buffer's format is one item of `kind` ('f' float, 'i' signed int) and `size` bytes. */
static int has_format(const Py_buffer *view, char kind, Py_ssize_t size)
{
    const char *format = view->format ? view->format : "B";
    char code;
    if (*format == '@' || *format == '=' || *format == '<')
        format++;
    code = format[0];
    if (code == '\0' || format[1] != '\0' || view->itemsize != size)
        return 0;
    if (kind == 'f')
        return size == 2 ? code == 'e' : size == 4 ? code == 'f' : code == 'd';
    if (size == 1)
        return code == 'b';
    return code == 'q' || code == 'l' || code == 'i';
}

/* Get a C-contiguous buffer of `ndim` dimensions and the given item kind; set a Python error if not. */
static int get_array(PyObject *obj, Py_buffer *view, const char *name, int ndim, char kind, Py_ssize_t size,
                     int writable)
{
    int flags = PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | (writable ? PyBUF_WRITABLE : 0);
    if (PyObject_GetBuffer(obj, view, flags) < 0)
        return -1;
    if (view->ndim != ndim || !has_format(view, kind, size)) {
        PyErr_Format(PyExc_TypeError, "%s must be a %d-D C-contiguous %s%d array", name, ndim,
                     kind == 'f' ? "float" : "int", (int)(8 * size));
        PyBuffer_Release(view);
        return -1;
    }
    return 0;
}

/* Exact IEEE half -> single conversion (every half is a single; NaN payloads are kept). */
static float half_to_float(uint16_t half)
{
    uint32_t sign = (uint32_t)(half & 0x8000u) << 16, exponent = (half >> 10) & 0x1fu, mantissa = half & 0x3ffu;
    uint32_t bits;
    float result;
    if (exponent == 0x1fu) {
        bits = sign | 0x7f800000u | (mantissa << 13);
    } else if (exponent != 0) {
        bits = sign | ((exponent + 112u) << 23) | (mantissa << 13);
    } else if (mantissa == 0) {
        bits = sign;
    } else {
        /* Subnormal half: shift the mantissa up to an implicit leading one. */
        exponent = 113u;
        while (!(mantissa & 0x400u)) {
            mantissa <<= 1;
            exponent--;
        }
        bits = sign | (exponent << 23) | ((mantissa & 0x3ffu) << 13);
    }
    memcpy(&result, &bits, sizeof result);
    return result;
}

/* What one call sums: validated pointers and sizes (read without the GIL). */
struct job {
    const void *table;
    const int64_t *ids, *offsets, *mapping;
    const float *weights;
    float *out;
    Py_ssize_t n_texts, dim;
};

/* The loop over texts and tokens, once per table type; ROW(d) reads element d of `src` as a float.
 * acc[d] = value (first row) or acc[d] += value, value = ROW(d) or ROW(d) * scale: the float32
 * operations of the numpy path, in its order. */
#define SUM_LOOP(TYPE, ROW)                                                                                  \
    for (Py_ssize_t t = 0; t < j->n_texts; t++) {                                                            \
        float *restrict acc = j->out + t * j->dim;                                                           \
        const int64_t begin = j->offsets[t], end = j->offsets[t + 1];                                        \
        const Py_ssize_t dim = j->dim;                                                                       \
        if (begin == end) {                                                                                  \
            memset(acc, 0, (size_t)dim * sizeof(float));                                                     \
            continue;                                                                                        \
        }                                                                                                    \
        for (int64_t k = begin; k < end; k++) {                                                              \
            const int64_t token = j->ids[k];                                                                 \
            const TYPE *restrict src = (const TYPE *)j->table + (j->mapping ? j->mapping[token] : token) * dim; \
            if (j->weights) {                                                                                \
                const float scale = j->weights[token];                                                       \
                if (k == begin)                                                                              \
                    for (Py_ssize_t d = 0; d < dim; d++)                                                     \
                        acc[d] = ROW(d) * scale;                                                             \
                else                                                                                         \
                    for (Py_ssize_t d = 0; d < dim; d++)                                                     \
                        acc[d] += ROW(d) * scale;                                                            \
            } else if (k == begin) {                                                                         \
                for (Py_ssize_t d = 0; d < dim; d++)                                                         \
                    acc[d] = ROW(d);                                                                         \
            } else {                                                                                         \
                for (Py_ssize_t d = 0; d < dim; d++)                                                         \
                    acc[d] += ROW(d);                                                                        \
            }                                                                                                \
        }                                                                                                    \
    }

#define FLOAT_ROW(d) src[d]
#define INT8_ROW(d) ((float)src[d])
#define HALF_ROW(d) half_to_float(src[d])

static void sums_float(const struct job *j) { SUM_LOOP(float, FLOAT_ROW) }
static void sums_int8(const struct job *j) { SUM_LOOP(int8_t, INT8_ROW) }
static void sums_half(const struct job *j) { SUM_LOOP(uint16_t, HALF_ROW) }

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define HAVE_X86_VARIANTS 1

/* The same loops compiled for AVX2 (wider vectors; the arithmetic is the same, lane by lane). */
__attribute__((target("avx2"))) static void sums_float_avx2(const struct job *j) { SUM_LOOP(float, FLOAT_ROW) }
__attribute__((target("avx2"))) static void sums_int8_avx2(const struct job *j) { SUM_LOOP(int8_t, INT8_ROW) }

/* Halves converted eight at a time by F16C (exact, like the scalar conversion), then the same operations. */
__attribute__((target("avx2,f16c"))) static void sums_half_f16c(const struct job *j)
{
    const Py_ssize_t dim = j->dim, wide = dim - dim % 8;
    for (Py_ssize_t t = 0; t < j->n_texts; t++) {
        float *acc = j->out + t * dim;
        const int64_t begin = j->offsets[t], end = j->offsets[t + 1];
        if (begin == end) {
            memset(acc, 0, (size_t)dim * sizeof(float));
            continue;
        }
        for (int64_t k = begin; k < end; k++) {
            const int64_t token = j->ids[k];
            const uint16_t *src = (const uint16_t *)j->table + (j->mapping ? j->mapping[token] : token) * dim;
            const float scale = j->weights ? j->weights[token] : 1.0f;
            const __m256 scales = _mm256_set1_ps(scale);
            Py_ssize_t d;
            for (d = 0; d < wide; d += 8) {
                __m256 value = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(src + d)));
                if (j->weights)
                    value = _mm256_mul_ps(value, scales);
                if (k != begin)
                    value = _mm256_add_ps(_mm256_loadu_ps(acc + d), value);
                _mm256_storeu_ps(acc + d, value);
            }
            for (; d < dim; d++) {
                float value = half_to_float(src[d]);
                if (j->weights)
                    value *= scale;
                acc[d] = k == begin ? value : acc[d] + value;
            }
        }
    }
}
#endif

/* Run the loop for the table's item size, on the widest instructions this CPU has. */
static void run_sums(const struct job *j, Py_ssize_t itemsize)
{
#ifdef HAVE_X86_VARIANTS
    if (__builtin_cpu_supports("avx2")) {
        if (itemsize == 2 && __builtin_cpu_supports("f16c"))
            sums_half_f16c(j);
        else if (itemsize == 2)
            sums_half(j);
        else if (itemsize == 1)
            sums_int8_avx2(j);
        else
            sums_float_avx2(j);
        return;
    }
#endif
    if (itemsize == 2)
        sums_half(j);
    else if (itemsize == 1)
        sums_int8(j);
    else
        sums_float(j);
}

static PyObject *segment_sums(PyObject *self, PyObject *args)
{
    PyObject *table_obj, *ids_obj, *offsets_obj, *weights_obj, *mapping_obj, *out_obj;
    Py_buffer table = {0}, ids = {0}, offsets = {0}, weights = {0}, mapping = {0}, out = {0};
    int have_weights, have_mapping, ok = 0;
    (void)self;
    if (!PyArg_ParseTuple(args, "OOOOOO:segment_sums", &table_obj, &ids_obj, &offsets_obj, &weights_obj,
                          &mapping_obj, &out_obj))
        return NULL;
    have_weights = weights_obj != Py_None;
    have_mapping = mapping_obj != Py_None;
    if (PyObject_GetBuffer(table_obj, &table, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0)
        goto done;
    if (table.ndim != 2 || !(has_format(&table, 'f', 4) || has_format(&table, 'f', 2) || has_format(&table, 'i', 1))) {
        PyErr_SetString(PyExc_TypeError, "table must be a 2-D C-contiguous float32, float16 or int8 array");
        goto done;
    }
    if (get_array(ids_obj, &ids, "ids", 1, 'i', 8, 0) < 0)
        goto done;
    if (get_array(offsets_obj, &offsets, "offsets", 1, 'i', 8, 0) < 0)
        goto done;
    if (have_weights && get_array(weights_obj, &weights, "weights", 1, 'f', 4, 0) < 0)
        goto done;
    if (have_mapping && get_array(mapping_obj, &mapping, "mapping", 1, 'i', 8, 0) < 0)
        goto done;
    if (get_array(out_obj, &out, "out", 2, 'f', 4, 1) < 0)
        goto done;
    {
        const int64_t *id = (const int64_t *)ids.buf;
        const int64_t *off = (const int64_t *)offsets.buf;
        const float *w = have_weights ? (const float *)weights.buf : NULL;
        const int64_t *map = have_mapping ? (const int64_t *)mapping.buf : NULL;
        float *dst = (float *)out.buf;
        const Py_ssize_t rows = table.shape[0], dim = table.shape[1], n_ids = ids.shape[0];
        const Py_ssize_t n_texts = offsets.shape[0] - 1;
        const Py_ssize_t n_weights = have_weights ? weights.shape[0] : 0;
        const Py_ssize_t n_mapping = have_mapping ? mapping.shape[0] : 0;
        Py_ssize_t t, k, bad = -1;

        if (n_texts < 0 || out.shape[0] != n_texts || out.shape[1] != dim) {
            PyErr_SetString(PyExc_ValueError, "out must have shape (len(offsets) - 1, table.shape[1])");
            goto done;
        }
        if (n_texts > 0 && (off[0] < 0 || off[n_texts] > n_ids)) {
            PyErr_SetString(PyExc_ValueError, "offsets must lie within ids");
            goto done;
        }
        for (t = 0; t < n_texts; t++) {
            if (off[t] > off[t + 1]) {
                PyErr_SetString(PyExc_ValueError, "offsets must not decrease");
                goto done;
            }
        }
        /* Check every id that will be read before the unlocked loop, so it never reads out of bounds. */
        if (n_texts > 0) {
            for (k = off[0]; k < off[n_texts]; k++) {
                int64_t token = id[k], row = token;
                if (token < 0 || (have_weights && token >= n_weights) || (have_mapping && token >= n_mapping)) {
                    bad = k;
                    break;
                }
                if (have_mapping)
                    row = map[token];
                if (row < 0 || row >= rows) {
                    bad = k;
                    break;
                }
            }
        }
        if (bad >= 0) {
            PyErr_Format(PyExc_IndexError, "Token rows must be in [0, %zd), got token id %lld at position %zd "
                         "(outside the table, weights or mapping).", rows, (long long)id[bad], bad);
            goto done;
        }
        {
            const struct job work = {table.buf, id, off, map, w, dst, n_texts, dim};
            Py_BEGIN_ALLOW_THREADS
            run_sums(&work, table.itemsize);
            Py_END_ALLOW_THREADS
        }
        ok = 1;
    }
done:
    if (table.obj)
        PyBuffer_Release(&table);
    if (ids.obj)
        PyBuffer_Release(&ids);
    if (offsets.obj)
        PyBuffer_Release(&offsets);
    if (weights.obj)
        PyBuffer_Release(&weights);
    if (mapping.obj)
        PyBuffer_Release(&mapping);
    if (out.obj)
        PyBuffer_Release(&out);
    if (!ok)
        return NULL;
    Py_RETURN_NONE;
}

/* ---------------------------------------------------------------------------------------------------
 * StrIndex: a set of str keys numbered 0, 1, 2, ... in insertion order (the word cache's index).
 *
 * The same job as a dict {word: slot} at about a third of its memory (no str, int or dict entry
 * objects: a 24-byte bucket per key, keys of up to 8 UTF-8 bytes stored in the bucket, longer ones in
 * one byte arena) and with fewer cache misses per look-up. Keys are compared by their UTF-8 bytes
 * ("surrogatepass" for lone surrogates, so every str has exactly one key) after a match of Python's
 * own str hash, which is keyed per process (no crafted-collision slowdowns). Open addressing with
 * linear probing; the table is at most half full. Removal only ever drops the newest keys
 * (`truncate`), which lets the arena rewind. The GIL protects every call.
 * ------------------------------------------------------------------------------------------------- */

#define SLOT_EMPTY 0xffffffffu
#define SLOT_REMOVED 0xfffffffeu
#define MAX_KEY_LENGTH 0xfffffff0u

typedef struct {
    uint64_t hash;
    uint64_t key;    /* the bytes themselves (length <= 8, zero padded) or their arena offset */
    uint32_t length; /* SLOT_EMPTY / SLOT_REMOVED mark free buckets */
    uint32_t value;
} bucket_t;

typedef struct {
    PyObject_HEAD
    bucket_t *buckets;
    size_t mask; /* capacity - 1 (a power of two) */
    size_t live, removed;
    uint32_t *order; /* order[value] = bucket of the key numbered value */
    size_t order_capacity;
    char *arena;
    size_t arena_used, arena_capacity;
} StrIndex;

/* The UTF-8 bytes of a str: borrowed from the str when possible, else in *owner (a bytes object). */
static const char *key_of(PyObject *word, Py_ssize_t *length, PyObject **owner)
{
    const char *data;
    *owner = NULL;
    if (PyUnicode_IS_COMPACT_ASCII(word)) {
        *length = PyUnicode_GET_LENGTH(word);
        return (const char *)PyUnicode_DATA(word);
    }
    data = PyUnicode_AsUTF8AndSize(word, length);
    if (data != NULL)
        return data;
    if (!PyErr_ExceptionMatches(PyExc_UnicodeEncodeError))
        return NULL;
    PyErr_Clear(); /* lone surrogates */
    *owner = PyUnicode_AsEncodedString(word, "utf-8", "surrogatepass");
    if (*owner == NULL)
        return NULL;
    *length = PyBytes_GET_SIZE(*owner);
    return PyBytes_AS_STRING(*owner);
}

static uint64_t inline_key(const char *data, Py_ssize_t length)
{
    uint64_t key = 0;
    memcpy(&key, data, (size_t)length);
    return key;
}

static int same_key(const StrIndex *index, const bucket_t *b, uint64_t hash, const char *data, Py_ssize_t length)
{
    if (b->hash != hash || b->length != (uint32_t)length)
        return 0;
    if (length <= 8)
        return b->key == inline_key(data, length);
    return memcmp(index->arena + b->key, data, (size_t)length) == 0;
}

/* The bucket holding the key, or -1; *free_bucket gets the first free bucket of the probe. */
static Py_ssize_t find(const StrIndex *index, uint64_t hash, const char *data, Py_ssize_t length,
                       size_t *free_bucket)
{
    size_t i = (size_t)(hash ^ (hash >> 29)) & index->mask;
    int have_free = 0;
    for (;; i = (i + 1) & index->mask) {
        const bucket_t *b = &index->buckets[i];
        if (b->length == SLOT_EMPTY) {
            if (!have_free)
                *free_bucket = i;
            return -1;
        }
        if (b->length == SLOT_REMOVED) {
            if (!have_free) {
                *free_bucket = i;
                have_free = 1;
            }
            continue;
        }
        if (same_key(index, b, hash, data, length))
            return (Py_ssize_t)i;
    }
}

static int allocate_buckets(StrIndex *index, size_t capacity)
{
    bucket_t *buckets = PyMem_Malloc(capacity * sizeof(bucket_t));
    if (buckets == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    for (size_t i = 0; i < capacity; i++)
        buckets[i].length = SLOT_EMPTY;
    PyMem_Free(index->buckets);
    index->buckets = buckets;
    index->mask = capacity - 1;
    index->removed = 0;
    return 0;
}

/* Make room for `extra` more keys: rebuild (bigger when needed) once more than half would be taken. */
static int reserve(StrIndex *index, size_t extra)
{
    size_t capacity = index->mask + 1, needed = index->live + extra;
    if (needed > index->order_capacity) {
        size_t size = index->order_capacity ? index->order_capacity : 1024;
        uint32_t *order;
        while (size < needed)
            size *= 2;
        order = PyMem_Realloc(index->order, size * sizeof(uint32_t));
        if (order == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        index->order = order;
        index->order_capacity = size;
    }
    if (2 * (needed + index->removed) <= capacity)
        return 0;
    while (2 * needed > capacity)
        capacity *= 2;
    {
        bucket_t *old = index->buckets;
        size_t old_capacity = index->mask + 1;
        index->buckets = NULL;
        if (allocate_buckets(index, capacity) < 0) {
            index->buckets = old;
            return -1;
        }
        for (size_t i = 0; i < old_capacity; i++) {
            if (old[i].length >= SLOT_REMOVED)
                continue;
            size_t j = (size_t)(old[i].hash ^ (old[i].hash >> 29)) & index->mask;
            while (index->buckets[j].length != SLOT_EMPTY)
                j = (j + 1) & index->mask;
            index->buckets[j] = old[i];
            index->order[old[i].value] = (uint32_t)j;
        }
        PyMem_Free(old);
    }
    return 0;
}

static PyObject *StrIndex_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    StrIndex *index;
    if (!PyArg_ParseTuple(args, ":StrIndex") || (kwargs != NULL && PyDict_Size(kwargs) > 0)) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_TypeError, "StrIndex() takes no arguments");
        return NULL;
    }
    index = (StrIndex *)type->tp_alloc(type, 0);
    if (index == NULL)
        return NULL;
    if (allocate_buckets(index, 1024) < 0) {
        Py_DECREF(index);
        return NULL;
    }
    return (PyObject *)index;
}

static void StrIndex_dealloc(StrIndex *index)
{
    PyMem_Free(index->buckets);
    PyMem_Free(index->order);
    PyMem_Free(index->arena);
    Py_TYPE(index)->tp_free((PyObject *)index);
}

static Py_ssize_t StrIndex_len(StrIndex *index)
{
    return (Py_ssize_t)index->live;
}

/* Hash and key bytes of a list item, checking it is an exact str (whose hash runs no Python code). */
static const char *prepare(PyObject *word, uint64_t *hash, Py_ssize_t *length, PyObject **owner)
{
    Py_hash_t h;
    if (!PyUnicode_CheckExact(word)) {
        PyErr_SetString(PyExc_TypeError, "words must be str");
        return NULL;
    }
    h = PyObject_Hash(word);
    if (h == -1 && PyErr_Occurred())
        return NULL;
    *hash = (uint64_t)h;
    return key_of(word, length, owner);
}

static PyObject *StrIndex_look_up(StrIndex *index, PyObject *args)
{
    PyObject *words, *out_obj;
    Py_buffer out = {0};
    Py_ssize_t n, absent = 0;
    int64_t *dst;
    if (!PyArg_ParseTuple(args, "O!O:look_up", &PyList_Type, &words, &out_obj))
        return NULL;
    if (get_array(out_obj, &out, "out", 1, 'i', 8, 1) < 0)
        return NULL;
    n = PyList_GET_SIZE(words);
    if (out.shape[0] != n) {
        PyBuffer_Release(&out);
        PyErr_SetString(PyExc_ValueError, "out must have one entry per word");
        return NULL;
    }
    dst = (int64_t *)out.buf;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *owner;
        uint64_t hash;
        Py_ssize_t length, found;
        size_t unused;
        const char *data = prepare(PyList_GET_ITEM(words, i), &hash, &length, &owner);
        if (data == NULL)
            break;
        found = length > (Py_ssize_t)MAX_KEY_LENGTH ? -1 : find(index, hash, data, length, &unused);
        Py_XDECREF(owner);
        dst[i] = found < 0 ? -1 : (int64_t)index->buckets[found].value;
        absent += found < 0;
    }
    PyBuffer_Release(&out);
    if (PyErr_Occurred())
        return NULL;
    return PyLong_FromSsize_t(absent);
}


/* Append an int64 to a bytearray used as a growing buffer. */
static int push_int64(PyObject *buffer, Py_ssize_t *used, int64_t value)
{
    Py_ssize_t size = PyByteArray_GET_SIZE(buffer);
    if ((*used + 1) * (Py_ssize_t)sizeof(int64_t) > size &&
        PyByteArray_Resize(buffer, size < 1024 ? 1024 : 2 * size) < 0)
        return -1;
    memcpy(PyByteArray_AS_STRING(buffer) + *used * (Py_ssize_t)sizeof(int64_t), &value, sizeof value);
    (*used)++;
    return 0;
}

/* split_look_up(texts, limits): split each text at every " " like `text.split(" ")` (empty words
 * included) and look every word up, without making a list of the words. limits[i] >= 1 keeps only
 * the first limits[i] words of text i (a text with more words is reported as cut); -1 keeps all.
 * Returns (numbers, words_per_text, cut, absent): int64 bytes with each word's number or -1, int64
 * bytes with each text's word count, the indices of cut texts, and the absent words in order. */
static PyObject *StrIndex_split_look_up(StrIndex *index, PyObject *args)
{
    PyObject *texts, *limits_obj, *numbers = NULL, *counts = NULL, *cut = NULL, *absent = NULL, *result = NULL;
    Py_buffer limits = {0};
    Py_ssize_t n, used = 0, counted = 0;
    if (!PyArg_ParseTuple(args, "O!O:split_look_up", &PyList_Type, &texts, &limits_obj))
        return NULL;
    if (get_array(limits_obj, &limits, "limits", 1, 'i', 8, 0) < 0)
        return NULL;
    n = PyList_GET_SIZE(texts);
    if (limits.shape[0] != n) {
        PyErr_SetString(PyExc_ValueError, "limits must have one entry per text");
        goto done;
    }
    numbers = PyByteArray_FromStringAndSize(NULL, 0);
    counts = PyByteArray_FromStringAndSize(NULL, 0);
    cut = PyList_New(0);
    absent = PyList_New(0);
    if (numbers == NULL || counts == NULL || cut == NULL || absent == NULL)
        goto done;
    for (Py_ssize_t t = 0; t < n; t++) {
        PyObject *text = PyList_GET_ITEM(texts, t);
        const int64_t limit = ((const int64_t *)limits.buf)[t];
        Py_ssize_t length, start = 0, words = 0;
        if (!PyUnicode_Check(text)) { /* subclasses (numpy.str_) too: their words are made plain str */
            PyErr_SetString(PyExc_TypeError, "texts must be str");
            goto done;
        }
        length = PyUnicode_GET_LENGTH(text);
        for (;;) {
            Py_ssize_t end, found;
            PyObject *word, *owner;
            uint64_t hash;
            Py_ssize_t key_length;
            size_t unused;
            const char *data;
            if (limit >= 0 && words == limit) {
                /* More text after the last word taken: split(" ", limit) would give a remainder. */
                if (start <= length) {
                    PyObject *index_obj = PyLong_FromSsize_t(t);
                    if (index_obj == NULL || PyList_Append(cut, index_obj) < 0) {
                        Py_XDECREF(index_obj);
                        goto done;
                    }
                    Py_DECREF(index_obj);
                }
                break;
            }
            end = PyUnicode_FindChar(text, ' ', start, length, 1);
            if (end == -2)
                goto done;
            if (end == -1)
                end = length;
            word = PyUnicode_Substring(text, start, end);
            if (word == NULL)
                goto done;
            data = prepare(word, &hash, &key_length, &owner);
            if (data == NULL) {
                Py_DECREF(word);
                goto done;
            }
            found = key_length > (Py_ssize_t)MAX_KEY_LENGTH ? -1 : find(index, hash, data, key_length, &unused);
            Py_XDECREF(owner);
            if (push_int64(numbers, &used, found < 0 ? -1 : (int64_t)index->buckets[found].value) < 0) {
                Py_DECREF(word);
                goto done;
            }
            if (found < 0 && PyList_Append(absent, word) < 0) {
                Py_DECREF(word);
                goto done;
            }
            Py_DECREF(word);
            words++;
            if (end == length)
                break;
            start = end + 1;
        }
        if (push_int64(counts, &counted, words) < 0)
            goto done;
    }
    if (PyByteArray_Resize(numbers, used * (Py_ssize_t)sizeof(int64_t)) < 0 ||
        PyByteArray_Resize(counts, counted * (Py_ssize_t)sizeof(int64_t)) < 0)
        goto done;
    result = PyTuple_Pack(4, numbers, counts, cut, absent);
done:
    PyBuffer_Release(&limits);
    Py_XDECREF(numbers);
    Py_XDECREF(counts);
    Py_XDECREF(cut);
    Py_XDECREF(absent);
    return result;
}

/* Keep the first `count` keys. Keys are numbered in insertion order, so the dropped ones own the end
 * of the arena, which rewinds to the first of their long keys. */
static void drop_newest(StrIndex *index, size_t count)
{
    size_t arena_end = index->arena_used;
    while (index->live > count) {
        bucket_t *b = &index->buckets[index->order[--index->live]];
        if (b->length > 8 && b->key < arena_end)
            arena_end = b->key;
        b->length = SLOT_REMOVED;
        index->removed++;
    }
    index->arena_used = arena_end;
}

static PyObject *StrIndex_add(StrIndex *index, PyObject *args)
{
    PyObject *words;
    Py_ssize_t n;
    size_t first = index->live;
    if (!PyArg_ParseTuple(args, "O!:add", &PyList_Type, &words))
        return NULL;
    n = PyList_GET_SIZE(words);
    if (index->live + (size_t)n >= SLOT_REMOVED) {
        PyErr_SetString(PyExc_OverflowError, "StrIndex is full");
        return NULL;
    }
    if (reserve(index, (size_t)n) < 0)
        return NULL;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *owner;
        uint64_t hash;
        Py_ssize_t length;
        size_t free_bucket = 0;
        bucket_t *b;
        const char *data = prepare(PyList_GET_ITEM(words, i), &hash, &length, &owner);
        if (data == NULL)
            goto fail;
        if (length > (Py_ssize_t)MAX_KEY_LENGTH) {
            Py_XDECREF(owner);
            PyErr_SetString(PyExc_OverflowError, "word too long for StrIndex");
            goto fail;
        }
        if (find(index, hash, data, length, &free_bucket) >= 0) {
            Py_XDECREF(owner);
            PyErr_SetString(PyExc_ValueError, "word already in the index");
            goto fail;
        }
        b = &index->buckets[free_bucket];
        if (length > 8) {
            if (index->arena_used + (size_t)length > index->arena_capacity) {
                size_t size = index->arena_capacity ? index->arena_capacity : 1 << 16;
                char *arena;
                while (size < index->arena_used + (size_t)length)
                    size *= 2;
                arena = PyMem_Realloc(index->arena, size);
                if (arena == NULL) {
                    Py_XDECREF(owner);
                    PyErr_NoMemory();
                    goto fail;
                }
                index->arena = arena;
                index->arena_capacity = size;
            }
            memcpy(index->arena + index->arena_used, data, (size_t)length);
            b->key = index->arena_used;
            index->arena_used += (size_t)length;
        } else {
            b->key = inline_key(data, length);
        }
        Py_XDECREF(owner);
        if (b->length == SLOT_REMOVED)
            index->removed--;
        b->hash = hash;
        b->length = (uint32_t)length;
        b->value = (uint32_t)index->live;
        index->order[index->live++] = (uint32_t)free_bucket;
    }
    Py_RETURN_NONE;
fail:
    drop_newest(index, first); /* a failed add changes nothing */
    return NULL;
}

static PyObject *StrIndex_truncate(StrIndex *index, PyObject *args)
{
    Py_ssize_t count;
    if (!PyArg_ParseTuple(args, "n:truncate", &count))
        return NULL;
    if (count < 0) {
        PyErr_SetString(PyExc_ValueError, "count must be >= 0");
        return NULL;
    }
    drop_newest(index, (size_t)count);
    Py_RETURN_NONE;
}

static PyObject *StrIndex_clear(StrIndex *index, PyObject *unused)
{
    (void)unused;
    if (allocate_buckets(index, 1024) < 0)
        return NULL;
    index->live = 0;
    index->arena_used = 0;
    PyMem_Free(index->arena);
    PyMem_Free(index->order);
    index->arena = NULL;
    index->order = NULL;
    index->arena_capacity = index->order_capacity = 0;
    Py_RETURN_NONE;
}

static PyObject *StrIndex_nbytes(StrIndex *index, void *closure)
{
    (void)closure;
    return PyLong_FromSize_t((index->mask + 1) * sizeof(bucket_t) + index->order_capacity * sizeof(uint32_t) +
                             index->arena_capacity);
}

static PyMethodDef StrIndex_methods[] = {
    {"look_up", (PyCFunction)StrIndex_look_up, METH_VARARGS,
     "look_up(words, out): out[i] = number of words[i], or -1 when absent (int64 array); returns how many were absent."},
    {"split_look_up", (PyCFunction)StrIndex_split_look_up, METH_VARARGS,
     "split_look_up(texts, limits): split at every space and look the words up; see the C source."},
    {"add", (PyCFunction)StrIndex_add, METH_VARARGS,
     "add(words): number new words len(self), len(self) + 1, ...; ValueError (and no change) if one is present."},
    {"truncate", (PyCFunction)StrIndex_truncate, METH_VARARGS, "truncate(count): keep only the first `count` words."},
    {"clear", (PyCFunction)StrIndex_clear, METH_NOARGS, "clear(): remove every word and free the memory."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef StrIndex_getset[] = {
    {"nbytes", (getter)StrIndex_nbytes, NULL, "Bytes allocated by the index.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PySequenceMethods StrIndex_as_sequence = {
    .sq_length = (lenfunc)StrIndex_len,
};

static PyTypeObject StrIndexType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "model2vec._kernels.StrIndex",
    .tp_basicsize = sizeof(StrIndex),
    .tp_dealloc = (destructor)StrIndex_dealloc,
    .tp_as_sequence = &StrIndex_as_sequence,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "StrIndex(): str keys numbered 0, 1, 2, ... in insertion order (a compact dict {word: number}).",
    .tp_methods = StrIndex_methods,
    .tp_getset = StrIndex_getset,
    .tp_new = StrIndex_new,
};

/* ---------------------------------------------------------------------------------------------------
 * Unigram tokenisation without the `tokenizers` Unigram model (see tokenization/unigram.py).
 *
 * scan_unigram_vocab(raw, start): parse the JSON array `[[piece, score], ...]` that starts at byte
 *     `start` of `raw` (a tokenizer.json's model.vocab) into (blob, offsets, scores, end): the pieces'
 *     UTF-8 bytes one after another, int64 bytes with their n + 1 boundaries, float64 bytes with the
 *     scores, and the byte position after the array. Numbers are converted exactly as serde_json
 *     (which `tokenizers` uses, without its float_roundtrip feature) converts them: the significant
 *     digits are gathered in a u64 (digits past its range are dropped) and the value is that u64 as
 *     a double, multiplied or divided once by a power of ten. That is not always the correctly rounded
 *     value Python's float() gives (1 ulp off for about a quarter of XLM-R's scores), and the Viterbi
 *     search below compares sums of scores, so only the same doubles give the same ids.
 *     ValueError for anything serde_json would reject (the caller then uses the Rust tokenizer).
 *
 * UnigramVocab(blob, offsets, scores, unk_id): the pieces in an open-addressing hash (int32 ids,
 *     FNV-1a over the UTF-8 bytes; a piece present twice maps to its last id, as in `tokenizers`).
 *     segment(words) runs the Viterbi search of `tokenizers`' Unigram model on each word (a
 *     pre-token): starts are visited left to right; from each, every piece that begins there, shortest
 *     first, offers (best score at the start + its score) to the position where it ends, which takes
 *     the offer when it has none yet or the offer is strictly greater; a start where no piece is
 *     exactly its one character offers that character as unknown, scored min_score - 10. The best
 *     path is read back from the end; runs of unknown nodes are fused into one string, and every
 *     string of the path is looked up again (unk_id when absent). Returns (ids, counts): int32 bytes
 *     with every word's ids in order and int64 bytes with the number of ids of each word.
 * ------------------------------------------------------------------------------------------------- */

static double pow10_table[309];

static void init_pow10(void)
{
    char text[16];
    for (int i = 0; i < 309; i++) {
        snprintf(text, sizeof text, "1e%d", i);
        pow10_table[i] = strtod(text, NULL); /* correctly rounded, like Rust's float literals */
    }
}

typedef struct {
    const unsigned char *data;
    Py_ssize_t size, pos;
} json_reader;

static int peek(const json_reader *r) { return r->pos < r->size ? r->data[r->pos] : -1; }

static void skip_space(json_reader *r)
{
    while (r->pos < r->size) {
        unsigned char c = r->data[r->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
            break;
        r->pos++;
    }
}

static int expect(json_reader *r, unsigned char c)
{
    skip_space(r);
    if (peek(r) != c)
        return -1;
    r->pos++;
    return 0;
}

/* a * 10 + b would exceed `limit` (serde_json's overflow! check). */
#define WOULD_OVERFLOW(a, b, limit) ((a) >= (limit) / 10 && ((a) > (limit) / 10 || (b) > (limit) % 10))

static int number_from_parts(int positive, uint64_t significand, int32_t exponent, double *out)
{
    double f = (double)significand;
    for (;;) {
        uint32_t magnitude = exponent < 0 ? (uint32_t)0 - (uint32_t)exponent : (uint32_t)exponent;
        if (magnitude < 309) {
            if (exponent >= 0) {
                f *= pow10_table[magnitude];
                if (isinf(f))
                    return -1;
            } else {
                f /= pow10_table[magnitude];
            }
            break;
        }
        if (f == 0.0)
            break;
        if (exponent >= 0)
            return -1;
        f /= 1e308;
        exponent += 308;
    }
    *out = positive ? f : -f;
    return 0;
}

static int read_exponent(json_reader *r, int positive, uint64_t significand, int32_t start, double *out)
{
    int positive_exp = 1;
    int32_t exp;
    r->pos++; /* the e or E */
    if (peek(r) == '+') {
        r->pos++;
    } else if (peek(r) == '-') {
        r->pos++;
        positive_exp = 0;
    }
    if (peek(r) < '0' || peek(r) > '9')
        return -1;
    exp = peek(r) - '0';
    r->pos++;
    while (peek(r) >= '0' && peek(r) <= '9') {
        int32_t digit = peek(r) - '0';
        if (WOULD_OVERFLOW(exp, digit, INT32_MAX)) {
            if (significand != 0 && positive_exp)
                return -1;
            while (peek(r) >= '0' && peek(r) <= '9')
                r->pos++;
            *out = positive ? 0.0 : -0.0;
            return 0;
        }
        r->pos++;
        exp = exp * 10 + digit;
    }
    if (positive_exp)
        exp = start > INT32_MAX - exp ? INT32_MAX : start + exp;
    else
        exp = start < INT32_MIN + exp ? INT32_MIN : start - exp;
    return number_from_parts(positive, significand, exp, out);
}

static int read_fraction(json_reader *r, int positive, uint64_t significand, int32_t exponent, double *out)
{
    int32_t after = 0;
    r->pos++; /* the point */
    while (peek(r) >= '0' && peek(r) <= '9') {
        uint64_t digit = (uint64_t)(peek(r) - '0');
        if (WOULD_OVERFLOW(significand, digit, UINT64_MAX)) {
            while (peek(r) >= '0' && peek(r) <= '9')
                r->pos++; /* further digits are dropped */
            if (peek(r) == 'e' || peek(r) == 'E')
                return read_exponent(r, positive, significand, exponent + after, out);
            return number_from_parts(positive, significand, exponent + after, out);
        }
        r->pos++;
        significand = significand * 10 + digit;
        after--;
    }
    if (after == 0)
        return -1;
    if (peek(r) == 'e' || peek(r) == 'E')
        return read_exponent(r, positive, significand, exponent + after, out);
    return number_from_parts(positive, significand, exponent + after, out);
}

static int read_number(json_reader *r, double *out)
{
    int positive = 1;
    uint64_t significand;
    skip_space(r);
    if (peek(r) == '-') {
        r->pos++;
        positive = 0;
    }
    if (peek(r) == '0') {
        r->pos++;
        if (peek(r) >= '0' && peek(r) <= '9')
            return -1;
        significand = 0;
    } else if (peek(r) >= '1' && peek(r) <= '9') {
        significand = (uint64_t)(peek(r) - '0');
        r->pos++;
        while (peek(r) >= '0' && peek(r) <= '9') {
            uint64_t digit = (uint64_t)(peek(r) - '0');
            if (WOULD_OVERFLOW(significand, digit, UINT64_MAX)) {
                int32_t dropped = 0; /* integer digits past the u64 count as powers of ten */
                while (peek(r) >= '0' && peek(r) <= '9') {
                    r->pos++;
                    dropped++;
                }
                if (peek(r) == '.')
                    return read_fraction(r, positive, significand, dropped, out);
                if (peek(r) == 'e' || peek(r) == 'E')
                    return read_exponent(r, positive, significand, dropped, out);
                return number_from_parts(positive, significand, dropped, out);
            }
            r->pos++;
            significand = significand * 10 + digit;
        }
    } else {
        return -1;
    }
    if (peek(r) == '.')
        return read_fraction(r, positive, significand, 0, out);
    if (peek(r) == 'e' || peek(r) == 'E')
        return read_exponent(r, positive, significand, 0, out);
    *out = positive ? (double)significand : -(double)significand; /* an integer, converted to f64 */
    return 0;
}

static int hex4(json_reader *r, uint32_t *out)
{
    uint32_t value = 0;
    if (r->pos + 4 > r->size)
        return -1;
    for (int i = 0; i < 4; i++) {
        unsigned char c = r->data[r->pos++];
        value <<= 4;
        if (c >= '0' && c <= '9')
            value |= (uint32_t)(c - '0');
        else if (c >= 'a' && c <= 'f')
            value |= (uint32_t)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            value |= (uint32_t)(c - 'A' + 10);
        else
            return -1;
    }
    *out = value;
    return 0;
}

/* Length of the valid UTF-8 sequence at data[0..available), 0 when invalid. */
static Py_ssize_t utf8_sequence(const unsigned char *data, Py_ssize_t available)
{
    unsigned char c = data[0];
    Py_ssize_t length;
    uint32_t code, minimum;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf) {
        length = 2, code = c & 0x1f, minimum = 0x80;
    } else if (c >= 0xe0 && c <= 0xef) {
        length = 3, code = c & 0x0f, minimum = 0x800;
    } else if (c >= 0xf0 && c <= 0xf4) {
        length = 4, code = c & 0x07, minimum = 0x10000;
    } else {
        return 0;
    }
    if (length > available)
        return 0;
    for (Py_ssize_t i = 1; i < length; i++) {
        if ((data[i] & 0xc0) != 0x80)
            return 0;
        code = (code << 6) | (data[i] & 0x3f);
    }
    if (code < minimum || code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff))
        return 0;
    return length;
}

static int append_bytes(PyObject *buffer, Py_ssize_t *used, const void *data, Py_ssize_t length)
{
    Py_ssize_t size = PyByteArray_GET_SIZE(buffer);
    if (*used + length > size) {
        Py_ssize_t wanted = size < 4096 ? 4096 : 2 * size;
        if (wanted < *used + length)
            wanted = *used + length;
        if (PyByteArray_Resize(buffer, wanted) < 0)
            return -1;
    }
    memcpy(PyByteArray_AS_STRING(buffer) + *used, data, (size_t)length);
    *used += length;
    return 0;
}

static int append_code_point(PyObject *buffer, Py_ssize_t *used, uint32_t code)
{
    unsigned char bytes[4];
    Py_ssize_t length;
    if (code < 0x80) {
        bytes[0] = (unsigned char)code, length = 1;
    } else if (code < 0x800) {
        bytes[0] = (unsigned char)(0xc0 | (code >> 6)), bytes[1] = (unsigned char)(0x80 | (code & 0x3f)), length = 2;
    } else if (code < 0x10000) {
        bytes[0] = (unsigned char)(0xe0 | (code >> 12)), bytes[1] = (unsigned char)(0x80 | ((code >> 6) & 0x3f));
        bytes[2] = (unsigned char)(0x80 | (code & 0x3f)), length = 3;
    } else {
        bytes[0] = (unsigned char)(0xf0 | (code >> 18)), bytes[1] = (unsigned char)(0x80 | ((code >> 12) & 0x3f));
        bytes[2] = (unsigned char)(0x80 | ((code >> 6) & 0x3f)), bytes[3] = (unsigned char)(0x80 | (code & 0x3f));
        length = 4;
    }
    return append_bytes(buffer, used, bytes, length);
}

/* Read a JSON string into blob; 0 on success, -1 for bad JSON, -2 with a Python error set. */
static int read_string(json_reader *r, PyObject *blob, Py_ssize_t *used)
{
    skip_space(r);
    if (peek(r) != '"')
        return -1;
    r->pos++;
    for (;;) {
        Py_ssize_t start = r->pos, length;
        while (r->pos < r->size && r->data[r->pos] != '"' && r->data[r->pos] != '\\' && r->data[r->pos] >= 0x20) {
            length = utf8_sequence(r->data + r->pos, r->size - r->pos);
            if (length == 0)
                return -1;
            r->pos += length;
        }
        if (append_bytes(blob, used, r->data + start, r->pos - start) < 0)
            return -2;
        if (r->pos >= r->size || r->data[r->pos] < 0x20)
            return -1;
        if (r->data[r->pos] == '"') {
            r->pos++;
            return 0;
        }
        r->pos++; /* a backslash */
        if (r->pos >= r->size)
            return -1;
        {
            unsigned char c = r->data[r->pos++];
            const char *plain = strchr("\"\\/bfnrt", c);
            static const char replacement[] = "\"\\/\b\f\n\r\t";
            uint32_t code, low;
            if (c != 'u') {
                if (c == 0 || plain == NULL)
                    return -1;
                if (append_bytes(blob, used, &replacement[plain - "\"\\/bfnrt"], 1) < 0)
                    return -2;
                continue;
            }
            if (hex4(r, &code) < 0)
                return -1;
            if (code >= 0xdc00 && code <= 0xdfff)
                return -1; /* serde_json rejects a lone trailing surrogate */
            if (code >= 0xd800 && code <= 0xdbff) {
                if (r->pos + 2 > r->size || r->data[r->pos] != '\\' || r->data[r->pos + 1] != 'u')
                    return -1;
                r->pos += 2;
                if (hex4(r, &low) < 0 || low < 0xdc00 || low > 0xdfff)
                    return -1;
                code = 0x10000 + ((code - 0xd800) << 10) + (low - 0xdc00);
            }
            if (append_code_point(blob, used, code) < 0)
                return -2;
        }
    }
}

static PyObject *scan_unigram_vocab(PyObject *self, PyObject *args)
{
    Py_buffer raw;
    Py_ssize_t start, blob_used = 0, offsets_used = 0, scores_used = 0;
    PyObject *blob = NULL, *offsets = NULL, *scores = NULL, *result = NULL;
    json_reader r;
    int status = 0;
    int64_t zero = 0;
    (void)self;
    if (!PyArg_ParseTuple(args, "y*n:scan_unigram_vocab", &raw, &start))
        return NULL;
    r.data = (const unsigned char *)raw.buf, r.size = raw.len, r.pos = start;
    blob = PyByteArray_FromStringAndSize(NULL, 0);
    offsets = PyByteArray_FromStringAndSize(NULL, 0);
    scores = PyByteArray_FromStringAndSize(NULL, 0);
    if (blob == NULL || offsets == NULL || scores == NULL || append_bytes(offsets, &offsets_used, &zero, 8) < 0)
        goto done;
    if (start < 0 || start > raw.len || expect(&r, '[') < 0) {
        status = -1;
        goto check;
    }
    skip_space(&r);
    if (peek(&r) == ']') {
        r.pos++;
        goto check;
    }
    for (;;) {
        double score;
        int64_t end;
        if (expect(&r, '[') < 0 || (status = read_string(&r, blob, &blob_used)) < 0)
            break;
        end = (int64_t)blob_used;
        if (expect(&r, ',') < 0 || read_number(&r, &score) < 0 || expect(&r, ']') < 0) {
            status = -1;
            break;
        }
        if (append_bytes(offsets, &offsets_used, &end, 8) < 0 || append_bytes(scores, &scores_used, &score, 8) < 0) {
            status = -2;
            break;
        }
        skip_space(&r);
        if (peek(&r) == ',') {
            r.pos++;
            continue;
        }
        if (peek(&r) == ']') {
            r.pos++;
            break;
        }
        status = -1;
        break;
    }
check:
    if (status == -1)
        PyErr_Format(PyExc_ValueError, "not a Unigram vocabulary the tokenizers library reads (byte %zd)", r.pos);
    if (status == 0 && PyByteArray_Resize(blob, blob_used) == 0 && PyByteArray_Resize(offsets, offsets_used) == 0 &&
        PyByteArray_Resize(scores, scores_used) == 0)
        result = Py_BuildValue("(OOOn)", blob, offsets, scores, r.pos);
done:
    Py_XDECREF(blob);
    Py_XDECREF(offsets);
    Py_XDECREF(scores);
    PyBuffer_Release(&raw);
    return result;
}

typedef struct {
    PyObject_HEAD
    Py_buffer blob, offsets, scores;
    Py_ssize_t count, max_bytes;
    int32_t *slots;
    uint64_t mask;
    /* One bit per hash of every byte prefix of every piece (top PREFIX_BITS bits of the FNV hash): when
     * a substring's bit is clear no piece starts with it, so longer substrings need no look-up. A set
     * bit may be a collision; it only costs a look-up, never a missed piece. */
    uint64_t *prefixes;
    int32_t unk_id;
    double unk_score;
    Py_ssize_t duplicates;
} UnigramVocab;

static uint64_t fnv_step(uint64_t hash, unsigned char byte) { return (hash ^ byte) * 1099511628211ull; }
#define FNV_START 14695981039346656037ull

#define PREFIX_BITS 23
#define PREFIX_BIT(hash) ((hash) >> (64 - PREFIX_BITS))

static int32_t piece_lookup(const UnigramVocab *v, uint64_t hash, const unsigned char *data, Py_ssize_t length)
{
    const int64_t *offsets = (const int64_t *)v->offsets.buf;
    const unsigned char *blob = (const unsigned char *)v->blob.buf;
    for (uint64_t i = hash & v->mask;; i = (i + 1) & v->mask) {
        int32_t id = v->slots[i];
        if (id < 0)
            return -1;
        if (offsets[id + 1] - offsets[id] == length && memcmp(blob + offsets[id], data, (size_t)length) == 0)
            return id;
    }
}

static uint64_t hash_bytes(const unsigned char *data, Py_ssize_t length)
{
    uint64_t hash = FNV_START;
    for (Py_ssize_t i = 0; i < length; i++)
        hash = fnv_step(hash, data[i]);
    return hash;
}

static void UnigramVocab_dealloc(UnigramVocab *v)
{
    if (v->blob.obj != NULL)
        PyBuffer_Release(&v->blob);
    if (v->offsets.obj != NULL)
        PyBuffer_Release(&v->offsets);
    if (v->scores.obj != NULL)
        PyBuffer_Release(&v->scores);
    PyMem_Free(v->slots);
    PyMem_Free(v->prefixes);
    Py_TYPE(v)->tp_free((PyObject *)v);
}

static PyObject *UnigramVocab_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    static char *names[] = {"blob", "offsets", "scores", "unk_id", NULL};
    PyObject *blob, *offsets, *scores;
    Py_ssize_t unk_id;
    UnigramVocab *v;
    const int64_t *bounds;
    const unsigned char *bytes;
    const double *values;
    double min_score = INFINITY;
    uint64_t capacity = 16;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OOOn:UnigramVocab", names, &blob, &offsets, &scores, &unk_id))
        return NULL;
    v = (UnigramVocab *)type->tp_alloc(type, 0);
    if (v == NULL)
        return NULL;
    if (PyObject_GetBuffer(blob, &v->blob, PyBUF_SIMPLE) < 0)
        goto fail;
    if (get_array(offsets, &v->offsets, "offsets", 1, 'i', 8, 0) < 0) {
        v->offsets.obj = NULL;
        goto fail;
    }
    if (get_array(scores, &v->scores, "scores", 1, 'f', 8, 0) < 0) {
        v->scores.obj = NULL;
        goto fail;
    }
    v->count = v->scores.shape[0];
    bounds = (const int64_t *)v->offsets.buf;
    bytes = (const unsigned char *)v->blob.buf;
    values = (const double *)v->scores.buf;
    if (v->offsets.shape[0] != v->count + 1 || bounds[0] != 0 || bounds[v->count] != v->blob.len) {
        PyErr_SetString(PyExc_ValueError, "offsets must hold len(scores) + 1 boundaries of blob");
        goto fail;
    }
    for (Py_ssize_t i = 0; i < v->count; i++) {
        if (bounds[i + 1] < bounds[i]) {
            PyErr_SetString(PyExc_ValueError, "offsets must not decrease");
            goto fail;
        }
        if (values[i] < min_score)
            min_score = values[i];
        if (bounds[i + 1] - bounds[i] > v->max_bytes)
            v->max_bytes = bounds[i + 1] - bounds[i];
    }
    if (v->count == 0 || v->count > INT32_MAX - 1 || unk_id < 0 || unk_id >= v->count) {
        PyErr_SetString(PyExc_ValueError, "need a non-empty vocabulary (below 2**31 pieces) holding unk_id");
        goto fail;
    }
    v->unk_id = (int32_t)unk_id;
    v->unk_score = min_score - 10.0;
    while (capacity < 2 * (uint64_t)v->count)
        capacity *= 2;
    v->mask = capacity - 1;
    v->slots = PyMem_Malloc(capacity * sizeof(int32_t));
    if (v->slots == NULL) {
        PyErr_NoMemory();
        goto fail;
    }
    memset(v->slots, 0xff, capacity * sizeof(int32_t));
    v->prefixes = PyMem_Calloc((1u << PREFIX_BITS) / 64, sizeof(uint64_t));
    if (v->prefixes == NULL) {
        PyErr_NoMemory();
        goto fail;
    }
    for (Py_ssize_t id = 0; id < v->count; id++) {
        Py_ssize_t length = bounds[id + 1] - bounds[id];
        uint64_t hash = FNV_START, i;
        for (Py_ssize_t k = 0; k < length; k++) {
            hash = fnv_step(hash, bytes[bounds[id] + k]);
            v->prefixes[PREFIX_BIT(hash) >> 6] |= 1ull << (PREFIX_BIT(hash) & 63);
        }
        if (length == 0)
            continue; /* never a match: a path holds no empty strings */
        for (i = hash & v->mask;; i = (i + 1) & v->mask) {
            int32_t other = v->slots[i];
            if (other < 0) {
                v->slots[i] = (int32_t)id;
                break;
            }
            if (bounds[other + 1] - bounds[other] == length &&
                memcmp(bytes + bounds[other], bytes + bounds[id], (size_t)length) == 0) {
                v->slots[i] = (int32_t)id; /* the last of equal pieces wins */
                v->duplicates++;
                break;
            }
        }
    }
    return (PyObject *)v;
fail:
    Py_DECREF(v);
    return NULL;
}

/* A growable int32 buffer filled without the GIL. */
typedef struct {
    int32_t *data;
    Py_ssize_t used, capacity;
} id_buffer;

static int push_id(id_buffer *out, int32_t id)
{
    if (out->used == out->capacity) {
        Py_ssize_t capacity = out->capacity < 1024 ? 1024 : 2 * out->capacity;
        int32_t *data = realloc(out->data, (size_t)capacity * sizeof(int32_t));
        if (data == NULL)
            return -1;
        out->data = data, out->capacity = capacity;
    }
    out->data[out->used++] = id;
    return 0;
}

static int32_t id_of(const UnigramVocab *v, const unsigned char *data, Py_ssize_t length)
{
    int32_t id = piece_lookup(v, hash_bytes(data, length), data, length);
    return id < 0 ? v->unk_id : id;
}

/* Segment one word (UTF-8, `n` bytes) and append its ids to out; returns the number of ids, -1 when out
 * of memory. best/from/node have room for n + 1 entries. Runs without the GIL. */
static Py_ssize_t segment_word(const UnigramVocab *v, const unsigned char *word, Py_ssize_t n, double *best,
                               Py_ssize_t *from, int32_t *node, id_buffer *out)
{
    const double *scores = (const double *)v->scores.buf;
    Py_ssize_t start, end, count = 0, first;
    if (n == 0)
        return 0;
    for (Py_ssize_t i = 0; i <= n; i++)
        from[i] = -1;
    best[0] = 0.0;
    for (start = 0; start < n; start = end) {
        double base = best[start];
        Py_ssize_t limit = n - start < v->max_bytes ? n - start : v->max_bytes;
        Py_ssize_t single = 1;
        int has_single = 0;
        uint64_t hash = FNV_START;
        while (start + single < n && (word[start + single] & 0xc0) == 0x80)
            single++;
        end = start + single;
        for (Py_ssize_t length = 1; length <= limit; length++) {
            hash = fnv_step(hash, word[start + length - 1]);
            if (!(v->prefixes[PREFIX_BIT(hash) >> 6] & (1ull << (PREFIX_BIT(hash) & 63))))
                break; /* no piece starts with these bytes, so none is longer either */
            if (start + length < n && (word[start + length] & 0xc0) == 0x80)
                continue; /* not a character boundary */
            {
                int32_t id = piece_lookup(v, hash, word + start, length);
                double candidate;
                if (id < 0)
                    continue;
                candidate = base + scores[id];
                if (from[start + length] < 0 || candidate > best[start + length]) {
                    best[start + length] = candidate;
                    from[start + length] = start;
                    node[start + length] = id;
                }
                if (length == single)
                    has_single = 1;
            }
        }
        if (!has_single) {
            double candidate = base + v->unk_score;
            if (from[end] < 0 || candidate > best[end]) {
                best[end] = candidate;
                from[end] = start;
                node[end] = v->unk_id;
            }
        }
    }
    /* Read the path back from the end. The scores are no longer needed, so best[] takes the nodes' end
     * positions (exact in a double), the last node at best[n - 1], the first at best[first - 1]. */
    first = n + 1;
    for (end = n; end > 0; end = from[end]) {
        first--;
        best[first - 1] = (double)end;
    }
    /* Walk the nodes in order, fusing each run of unknown nodes into one string. */
    start = 0;
    for (Py_ssize_t k = first - 1; k < n; k++) {
        Py_ssize_t stop = (Py_ssize_t)best[k];
        if (node[stop] == v->unk_id) {
            while (k + 1 < n && node[(Py_ssize_t)best[k + 1]] == v->unk_id) {
                k++;
                stop = (Py_ssize_t)best[k];
            }
        }
        if (push_id(out, id_of(v, word + start, stop - start)) < 0)
            return -1;
        count++;
        start = stop;
    }
    return count;
}

/* The items of `list` in a tuple, which keeps them alive while the GIL is released, each checked to be
 * a str (else TypeError with `message`), and an int64 bytearray with one count per item in *counts.
 * Returns NULL with an exception set on failure. */
static PyObject *hold_strs(PyObject *list, const char *message, PyObject **counts)
{
    PyObject *held = PySequence_Tuple(list);
    if (held == NULL)
        return NULL;
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(held); i++) {
        PyObject *item = PyTuple_GET_ITEM(held, i);
        if (!PyUnicode_Check(item)) {
            PyErr_SetString(PyExc_TypeError, message);
            Py_DECREF(held);
            return NULL;
        }
#if PY_VERSION_HEX < 0x030C0000
        if (PyUnicode_READY(item) < 0) { /* a legacy str gets its compact form (always compact from 3.12) */
            Py_DECREF(held);
            return NULL;
        }
#endif
    }
    *counts = PyByteArray_FromStringAndSize(NULL, PyTuple_GET_SIZE(held) * (Py_ssize_t)sizeof(int64_t));
    if (*counts == NULL) {
        Py_DECREF(held);
        return NULL;
    }
    return held;
}

/* An array of `count` items of `size` bytes (at least one item, so that NULL always means no memory). */
static void *per_item(Py_ssize_t count, size_t size) { return PyMem_Malloc((size_t)(count ? count : 1) * size); }

/* Append code point c as UTF-8 (c is no surrogate: the caller refuses those). */
static Py_ssize_t put_utf8(unsigned char *out, Py_UCS4 c)
{
    if (c < 0x80) {
        out[0] = (unsigned char)c;
        return 1;
    }
    if (c < 0x800) {
        out[0] = (unsigned char)(0xc0 | (c >> 6));
        out[1] = (unsigned char)(0x80 | (c & 0x3f));
        return 2;
    }
    if (c < 0x10000) {
        out[0] = (unsigned char)(0xe0 | (c >> 12));
        out[1] = (unsigned char)(0x80 | ((c >> 6) & 0x3f));
        out[2] = (unsigned char)(0x80 | (c & 0x3f));
        return 3;
    }
    out[0] = (unsigned char)(0xf0 | (c >> 18));
    out[1] = (unsigned char)(0x80 | ((c >> 12) & 0x3f));
    out[2] = (unsigned char)(0x80 | ((c >> 6) & 0x3f));
    out[3] = (unsigned char)(0x80 | (c & 0x3f));
    return 4;
}

/* Scratch of a search, grown as longer words come (raw allocator: used without the GIL). */
typedef struct {
    unsigned char *word;
    double *best;
    Py_ssize_t *from;
    int32_t *node;
    Py_ssize_t capacity; /* bytes of word; the others hold capacity + 1 entries */
} word_scratch;

static int reserve_word(word_scratch *s, Py_ssize_t bytes)
{
    Py_ssize_t capacity = s->capacity ? s->capacity : 256;
    void *word, *best, *from, *node;
    if (bytes <= s->capacity)
        return 0;
    while (capacity < bytes)
        capacity *= 2;
    word = PyMem_RawRealloc(s->word, (size_t)capacity);
    if (word != NULL)
        s->word = word;
    best = PyMem_RawRealloc(s->best, (size_t)(capacity + 1) * sizeof(double));
    if (best != NULL)
        s->best = best;
    from = PyMem_RawRealloc(s->from, (size_t)(capacity + 1) * sizeof(Py_ssize_t));
    if (from != NULL)
        s->from = from;
    node = PyMem_RawRealloc(s->node, (size_t)(capacity + 1) * sizeof(int32_t));
    if (node != NULL)
        s->node = node;
    if (word == NULL || best == NULL || from == NULL || node == NULL)
        return -1;
    s->capacity = capacity;
    return 0;
}

static void free_scratch(word_scratch *s)
{
    PyMem_RawFree(s->word);
    PyMem_RawFree(s->best);
    PyMem_RawFree(s->from);
    PyMem_RawFree(s->node);
}

/* The ids gathered in `out` as a bytearray of int32. */
static PyObject *ids_of(const id_buffer *out)
{
    return PyByteArray_FromStringAndSize((const char *)out->data, out->used * (Py_ssize_t)sizeof(int32_t));
}

/* segment(words): the words' UTF-8 is gathered with the GIL, then searched without it (the shell
 * tokenizer of another batch can run meanwhile); every call has its own scratch, so threads may share
 * one vocabulary. */
static PyObject *UnigramVocab_segment(UnigramVocab *v, PyObject *args)
{
    PyObject *words, *held = NULL, *ids = NULL, *counts = NULL;
    const char **data = NULL;
    Py_ssize_t *lengths = NULL, total, longest = 0, failed = 0;
    int64_t *per_word;
    word_scratch scratch = {NULL, NULL, NULL, NULL, 0};
    id_buffer out = {NULL, 0, 0};
    if (!PyArg_ParseTuple(args, "O!:segment", &PyList_Type, &words))
        return NULL;
    held = hold_strs(words, "words must be str", &counts);
    if (held == NULL)
        return NULL;
    total = PyTuple_GET_SIZE(held);
    data = per_item(total, sizeof(char *));
    lengths = per_item(total, sizeof(Py_ssize_t));
    if (data == NULL || lengths == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t i = 0; i < total; i++) {
        data[i] = PyUnicode_AsUTF8AndSize(PyTuple_GET_ITEM(held, i), &lengths[i]);
        if (data[i] == NULL)
            goto done;
        if (lengths[i] > longest)
            longest = lengths[i];
    }
    if (reserve_word(&scratch, longest) < 0) {
        PyErr_NoMemory();
        goto done;
    }
    per_word = (int64_t *)PyByteArray_AS_STRING(counts);
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < total; i++) {
        Py_ssize_t count = segment_word(v, (const unsigned char *)data[i], lengths[i], scratch.best, scratch.from,
                                        scratch.node, &out);
        if (count < 0) {
            failed = 1;
            break;
        }
        per_word[i] = (int64_t)count;
    }
    Py_END_ALLOW_THREADS
    ids = failed ? PyErr_NoMemory() : ids_of(&out);
done:
    free(out.data);
    free_scratch(&scratch);
    PyMem_Free(data);
    PyMem_Free(lengths);
    Py_DECREF(held);
    if (ids == NULL) {
        Py_XDECREF(counts);
        return NULL;
    }
    return Py_BuildValue("(NN)", ids, counts);
}

/* segment_texts(texts, unsafe, replacement): the Unigram ids of every text that a Metaspace tokenizer
 * splits at its spaces alone (see model2vec.tokenization.metaspace). A text is covered when none of its
 * code points has its bit set in `unsafe` (a bitmap of 0x110000 bits, bit c % 8 of byte c / 8) and it
 * holds no surrogate; its pre-tokens are `replacement` + each run of non-space characters, then
 * `replacement` alone when the text ends with a space. Returns (int32 ids of the covered texts, one after
 * another; int64 number of ids per text, -1 for a text not covered). The texts are read and searched
 * without the GIL. */
static PyObject *UnigramVocab_segment_texts(UnigramVocab *v, PyObject *args)
{
    PyObject *texts, *replacement, *held = NULL, *ids = NULL, *counts = NULL;
    Py_buffer unsafe;
    const void **data = NULL;
    int *kinds = NULL;
    Py_ssize_t *lengths = NULL, total, mark_bytes, failed = 0;
    unsigned char mark[4];
    const unsigned char *bits;
    int64_t *per_text;
    Py_UCS4 r;
    word_scratch scratch = {NULL, NULL, NULL, NULL, 0};
    id_buffer out = {NULL, 0, 0};
    if (!PyArg_ParseTuple(args, "O!y*U:segment_texts", &PyList_Type, &texts, &unsafe, &replacement))
        return NULL;
    if (unsafe.len < 0x110000 / 8) {
        PyErr_SetString(PyExc_ValueError, "unsafe must hold 0x110000 bits");
        PyBuffer_Release(&unsafe);
        return NULL;
    }
    if (PyUnicode_GET_LENGTH(replacement) != 1 || Py_UNICODE_IS_SURROGATE(PyUnicode_READ_CHAR(replacement, 0))) {
        PyErr_SetString(PyExc_ValueError, "replacement must be one character");
        PyBuffer_Release(&unsafe);
        return NULL;
    }
    r = PyUnicode_READ_CHAR(replacement, 0);
    mark_bytes = put_utf8(mark, r);
    bits = (const unsigned char *)unsafe.buf;
    held = hold_strs(texts, "texts must be str", &counts);
    if (held == NULL) {
        PyBuffer_Release(&unsafe);
        return NULL;
    }
    total = PyTuple_GET_SIZE(held);
    data = per_item(total, sizeof(void *));
    kinds = per_item(total, sizeof(int));
    lengths = per_item(total, sizeof(Py_ssize_t));
    if (data == NULL || kinds == NULL || lengths == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t i = 0; i < total; i++) {
        PyObject *text = PyTuple_GET_ITEM(held, i);
        data[i] = PyUnicode_DATA(text);
        kinds[i] = PyUnicode_KIND(text);
        lengths[i] = PyUnicode_GET_LENGTH(text);
    }
    per_text = (int64_t *)PyByteArray_AS_STRING(counts);
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < total && !failed; i++) {
        const void *text = data[i];
        int kind = kinds[i];
        Py_ssize_t n = lengths[i], run = 0, longest = 0, j = 0;
        int64_t found = 0;
        for (Py_ssize_t k = 0; k < n; k++) {
            Py_UCS4 c = PyUnicode_READ(kind, text, k);
            if (c == ' ') {
                run = 0;
                continue;
            }
            if ((bits[c >> 3] >> (c & 7)) & 1 || Py_UNICODE_IS_SURROGATE(c)) {
                longest = -1;
                break;
            }
            if (++run > longest)
                longest = run;
        }
        if (longest < 0) {
            per_text[i] = -1;
            continue;
        }
        if (reserve_word(&scratch, mark_bytes + 4 * longest) < 0) {
            failed = 1;
            break;
        }
        while (j < n) {
            Py_ssize_t size = mark_bytes, count;
            while (j < n && PyUnicode_READ(kind, text, j) == ' ')
                j++;
            if (j == n)
                break;
            memcpy(scratch.word, mark, (size_t)mark_bytes);
            for (; j < n; j++) {
                Py_UCS4 c = PyUnicode_READ(kind, text, j);
                if (c == ' ')
                    break;
                size += put_utf8(scratch.word + size, c);
            }
            count = segment_word(v, scratch.word, size, scratch.best, scratch.from, scratch.node, &out);
            if (count < 0) {
                failed = 1;
                break;
            }
            found += count;
        }
        if (!failed && n > 0 && PyUnicode_READ(kind, text, n - 1) == ' ') {
            /* Runs of spaces collapse into one; a final one is a pre-token of its own. */
            Py_ssize_t count;
            memcpy(scratch.word, mark, (size_t)mark_bytes);
            count = segment_word(v, scratch.word, mark_bytes, scratch.best, scratch.from, scratch.node, &out);
            if (count < 0)
                failed = 1;
            found += count;
        }
        per_text[i] = found;
    }
    Py_END_ALLOW_THREADS
    ids = failed ? PyErr_NoMemory() : ids_of(&out);
done:
    free(out.data);
    free_scratch(&scratch);
    PyMem_Free(data);
    PyMem_Free(kinds);
    PyMem_Free(lengths);
    Py_DECREF(held);
    PyBuffer_Release(&unsafe);
    if (ids == NULL) {
        Py_XDECREF(counts);
        return NULL;
    }
    return Py_BuildValue("(NN)", ids, counts);
}

static PyObject *UnigramVocab_look_up(UnigramVocab *v, PyObject *args)
{
    const char *data;
    Py_ssize_t length;
    if (!PyArg_ParseTuple(args, "s#:look_up", &data, &length))
        return NULL;
    return PyLong_FromLong(piece_lookup(v, hash_bytes((const unsigned char *)data, length),
                                        (const unsigned char *)data, length));
}

static Py_ssize_t UnigramVocab_len(UnigramVocab *v) { return v->count; }

static PyObject *UnigramVocab_get_duplicates(UnigramVocab *v, void *closure)
{
    (void)closure;
    return PyLong_FromSsize_t(v->duplicates);
}

static PyObject *UnigramVocab_get_nbytes(UnigramVocab *v, void *closure)
{
    (void)closure;
    return PyLong_FromSize_t((size_t)(v->mask + 1) * sizeof(int32_t));
}

static PyMethodDef UnigramVocab_methods[] = {
    {"segment", (PyCFunction)UnigramVocab_segment, METH_VARARGS,
     "segment(words): (int32 ids, int64 counts) of the Unigram Viterbi search on each word; see the C source."},
    {"segment_texts", (PyCFunction)UnigramVocab_segment_texts, METH_VARARGS,
     "segment_texts(texts, unsafe, replacement): (int32 ids, int64 counts, -1 where not covered) of Metaspace texts."},
    {"look_up", (PyCFunction)UnigramVocab_look_up, METH_VARARGS, "look_up(piece): its id (the last if repeated), or -1."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef UnigramVocab_getset[] = {
    {"duplicates", (getter)UnigramVocab_get_duplicates, NULL, "Pieces equal to an earlier piece.", NULL},
    {"nbytes", (getter)UnigramVocab_get_nbytes, NULL, "Bytes of the hash (the blob, offsets and scores are the caller's).", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PySequenceMethods UnigramVocab_as_sequence = {
    .sq_length = (lenfunc)UnigramVocab_len,
};

static PyTypeObject UnigramVocabType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "model2vec._kernels.UnigramVocab",
    .tp_basicsize = sizeof(UnigramVocab),
    .tp_dealloc = (destructor)UnigramVocab_dealloc,
    .tp_as_sequence = &UnigramVocab_as_sequence,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "UnigramVocab(blob, offsets, scores, unk_id): Unigram pieces for exact Viterbi segmentation.",
    .tp_methods = UnigramVocab_methods,
    .tp_getset = UnigramVocab_getset,
    .tp_new = UnigramVocab_new,
};

static PyMethodDef methods[] = {
    {"segment_sums", segment_sums, METH_VARARGS,
     "segment_sums(table, ids, offsets, weights, mapping, out): per-text float32 sums of token rows, in token order."},
    {"scan_unigram_vocab", scan_unigram_vocab, METH_VARARGS,
     "scan_unigram_vocab(raw, start): (blob, offsets, scores, end) of the JSON [[piece, score], ...] at raw[start:]."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "model2vec._kernels", "Compiled kernels for the encode hot path.", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__kernels(void)
{
    PyObject *m;
    if (PyType_Ready(&StrIndexType) < 0 || PyType_Ready(&UnigramVocabType) < 0)
        return NULL;
    init_pow10();
    m = PyModule_Create(&module);
    if (m == NULL)
        return NULL;
    Py_INCREF(&StrIndexType);
    if (PyModule_AddObject(m, "StrIndex", (PyObject *)&StrIndexType) < 0) {
        Py_DECREF(&StrIndexType);
        Py_DECREF(m);
        return NULL;
    }
    Py_INCREF(&UnigramVocabType);
    if (PyModule_AddObject(m, "UnigramVocab", (PyObject *)&UnigramVocabType) < 0) {
        Py_DECREF(&UnigramVocabType);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
