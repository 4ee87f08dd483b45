// COpenBLAS: the system OpenBLAS (CBLAS interface, thread control) and LAPACKE, through pkg-config `openblas`.
#pragma once
#include <cblas.h>
#include <lapacke.h>
