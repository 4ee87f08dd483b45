// CZlib: the system zlib, for gzip-compressed IDX files and deflated NPZ members.
#pragma once
#include <zlib.h>
