// CPNG: the system libpng 1.6, for decoding PNG images of image folders.
#pragma once
#include <png.h>
