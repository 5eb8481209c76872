/* libFuzzer harness for the CIFAR loader (cifar_load, lib/data/cifar.c).
 *
 * Input: one mode byte (bit 0: CIFAR-100, bit 1: the train split), then the
 * data. The train split of CIFAR-10 is five files: four size bytes come
 * first, one for each of data_batch_1..4 (high nibble: records of 3073
 * bytes, low nibble - 8: bytes more or fewer; 0xff: the file is missing),
 * cut to the data there is; data_batch_5 gets the rest. The other splits
 * are one file holding all the data.
 *
 * A set that loads must hold every record of the files in order, the kept
 * label and the 3072 pixels as stored, labels in range. */
#include "fuzz_util.h"

#include "data/cifar.h"

#define PIXELS 3072
#define N_NAMES 8
static const char *const NAMES[N_NAMES] = {"data_batch_1.bin", "data_batch_2.bin",
                                           "data_batch_3.bin", "data_batch_4.bin",
                                           "data_batch_5.bin", "test_batch.bin",
                                           "train.bin",        "test.bin"};
static char g_paths[N_NAMES][FUZZ_PATH];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    fuzz_init();
    for (int i = 0; i < N_NAMES; i++)
        fuzz_path(g_paths[i], NAMES[i]);
    return 0;
}

/* The files of a split: indices into NAMES. */
static int split_files(int cifar100, int train, int *idx)
{
    if (cifar100) {
        idx[0] = train ? 6 : 7;
        return 1;
    }
    if (!train) {
        idx[0] = 5;
        return 1;
    }
    for (int i = 0; i < 5; i++)
        idx[i] = i;
    return 5;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const int cifar100 = data[0] & 1, train = (data[0] >> 1) & 1;
    const size_t rec = (size_t)(cifar100 ? 2 : 1) + PIXELS;
    int files[5];
    const int nfiles = split_files(cifar100, train, files);
    const uint8_t *part[5];
    size_t len[5];
    int present[5] = {1, 1, 1, 1, 1};
    const uint8_t *sizes = data + 1;
    size_t n_sizes = nfiles == 5 ? (size - 1 < 4 ? size - 1 : 4) : 0;
    size_t pos = 1 + n_sizes;
    for (int i = 0; i < nfiles; i++) {
        size_t want = size - pos;
        if (i < nfiles - 1) {
            long bytes = 0; /* no size byte: an empty file */
            if ((size_t)i < n_sizes && sizes[i] == 0xff)
                present[i] = 0;
            else if ((size_t)i < n_sizes)
                bytes = (long)(sizes[i] >> 4) * (long)rec + (sizes[i] & 15) - 8;
            want = bytes < 0 ? 0 : (size_t)bytes;
        }
        if (want > size - pos)
            want = size - pos;
        part[i] = data + pos;
        len[i] = want;
        pos += want;
        if (present[i])
            fuzz_write(g_paths[files[i]], part[i], len[i]);
    }

    Dataset d;
    BsError err = {0};
    int rc = cifar_load(&d, g_fuzz_dir, cifar100, train, &err);
    fuzz_report("cifar_load", rc, err.msg);
    FUZZ_CHECK(rc == err.code);
    if (rc == BS_OK) {
        FUZZ_CHECK(d.c == 3 && d.h == 32 && d.w == 32 && d.num_classes == (cifar100 ? 100 : 10));
        int s = 0;
        for (int i = 0; i < nfiles; i++) {
            FUZZ_CHECK(present[i] && len[i] > 0 && len[i] % rec == 0);
            for (size_t r = 0; r < len[i] / rec; r++, s++) {
                const uint8_t *p = part[i] + r * rec;
                FUZZ_CHECK(s < d.n);
                FUZZ_CHECK(d.labels[s] == p[rec - PIXELS - 1] && d.labels[s] < d.num_classes);
                FUZZ_CHECK(!cifar100 || p[0] < 20);
                FUZZ_CHECK(memcmp(d.pixels + (size_t)s * PIXELS, p + rec - PIXELS, PIXELS) == 0);
            }
        }
        FUZZ_CHECK(s == d.n);
        dataset_free(&d);
    } else {
        FUZZ_CHECK(rc == BS_ERR_USER && d.pixels == NULL && d.labels == NULL && d.n == 0);
    }
    for (int i = 0; i < N_NAMES; i++)
        fuzz_unlink(g_paths[i]);
    return 0;
}
