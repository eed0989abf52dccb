/* Compiled kernels for the encode hot path (optional: `model2vec.pooling` falls back to numpy).
 *
 * segment_sums(table, ids, offsets, weights, mapping, out)
 *     out[t] = sum over k in [offsets[t], offsets[t+1]) of w(ids[k]) * table[row(ids[k])], in float32,
 *     adding the rows strictly in token order: ((r0 + r1) + r2) + ... with r0 written, not added to 0.
 *     Those are exactly the float32 operations of the numpy path in pooling.py, so both give the same
 *     bits. The build passes -ffp-contract=off: a fused multiply-add would round once instead of twice.
 *
 * All arguments are buffers (numpy arrays): table float32, float16 or int8 (rows, dim) C-contiguous; ids and offsets
 * int64 1-D; weights float32 1-D or None; mapping int64 1-D or None; out float32 (n, dim), writable.
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

/* look_up(index, words, out): out[i] = index[words[i]] (an int) or -1 when absent; returns the number absent.
 * The loop `np.fromiter(map(index.get, words, repeat(-1)))` does the same at about twice the cost per word. */
static PyObject *look_up(PyObject *self, PyObject *args)
{
    PyObject *index, *words, *out_obj;
    Py_buffer out = {0};
    Py_ssize_t n, i, absent = 0;
    int64_t *dst;
    (void)self;
    if (!PyArg_ParseTuple(args, "O!O!O:look_up", &PyDict_Type, &index, &PyList_Type, &words, &out_obj))
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
    for (i = 0; i < n; i++) {
        /* Borrowed references are safe: with exact str words, hashing and comparing run no Python
         * code, so neither the list nor the dict can change during the loop. */
        PyObject *word = PyList_GET_ITEM(words, i), *value;
        if (!PyUnicode_CheckExact(word)) {
            PyErr_SetString(PyExc_TypeError, "words must be str");
            break;
        }
        value = PyDict_GetItemWithError(index, word);
        if (value == NULL) {
            if (PyErr_Occurred())
                break;
            dst[i] = -1;
            absent++;
            continue;
        }
        if (!PyLong_Check(value)) {
            PyErr_SetString(PyExc_TypeError, "index values must be int");
            break;
        }
        dst[i] = PyLong_AsLongLong(value);
        if (dst[i] == -1 && PyErr_Occurred())
            break;
    }
    PyBuffer_Release(&out);
    if (PyErr_Occurred())
        return NULL;
    return PyLong_FromSsize_t(absent);
}

static PyMethodDef methods[] = {
    {"look_up", look_up, METH_VARARGS,
     "look_up(index, words, out): out[i] = index.get(words[i], -1) into an int64 array; returns how many were absent."},
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
    return PyModule_Create(&module);
}
