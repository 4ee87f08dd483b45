// CJPEG: the system libjpeg (libjpeg-turbo on Debian and Homebrew), for decoding JPEG images of image folders.
#pragma once
#include <stdio.h>
#include <jpeglib.h>
