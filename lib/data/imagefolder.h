/* PNG image folders, laid out as torchvision's ImageFolder:
 * root/SPLIT/CLASS/NAME.png. */
#ifndef BS_IMAGEFOLDER_H
#define BS_IMAGEFOLDER_H

#include "data/dataset.h"

/* Loads root/split. Classes are the subdirectories of root/split sorted by
 * strcmp (label = position); within a class the *.png files (suffix in any
 * case) are sorted by strcmp, and samples come class by class. Hidden
 * entries (leading '.') and other files are ignored. Gray images give c=1,
 * RGB, RGBA and palette images c=3 (alpha is dropped, not composited); all
 * images must share one size and channel count. num_classes = number of
 * class folders. Errors are BS_ERR_USER (out of memory BS_ERR_RUNTIME) and
 * name the file or folder: missing split, no class folders, a class with no
 * PNG, an unreadable/corrupt/truncated PNG, a size or channel mismatch. On
 * error *d is left empty. */
int imagefolder_load(Dataset *d, const char *root, const char *split, BsError *err);

/* Loads root/train and root/test, and also requires the test split to have
 * the same class folders (names and order) and image shape as the train
 * split. On error both are left empty. */
int imagefolder_load_pair(Dataset *train, Dataset *test, const char *root, BsError *err);

#endif
