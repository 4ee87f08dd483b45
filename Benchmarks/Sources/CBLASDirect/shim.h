// CBLASDirect: OpenBLAS's CBLAS interface, for calling cblas_sgemm without Shrink's wrapper.
#pragma once
#include <cblas.h>
