/* Compiled kernels for the encode hot path. Optional: without them `model2vec.pooling` and
 * `model2vec.tokenization` use numpy/Python paths that give the same results (see `_compiled.py`).
 *
 * StrIndex (further down): the word cache's index, a compact str -> number hash table that can also
 *     split texts at spaces and look the words up in one pass.
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
#include <stdint.h>
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
        return size == 2 ? code == 'e' : code == 'f';
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

static PyMethodDef methods[] = {
    {"segment_sums", segment_sums, METH_VARARGS,
     "segment_sums(table, ids, offsets, weights, mapping, out): per-text float32 sums of token rows, in token order."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "model2vec._kernels", "Compiled kernels for the encode hot path.", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__kernels(void)
{
    PyObject *m;
    if (PyType_Ready(&StrIndexType) < 0)
        return NULL;
    m = PyModule_Create(&module);
    if (m == NULL)
        return NULL;
    Py_INCREF(&StrIndexType);
    if (PyModule_AddObject(m, "StrIndex", (PyObject *)&StrIndexType) < 0) {
        Py_DECREF(&StrIndexType);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
