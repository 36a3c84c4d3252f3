// Public header of the repository library (model packages on disk).
#pragma once

#include "repository/model_package.h"
