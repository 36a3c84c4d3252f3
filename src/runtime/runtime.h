// Public header of the runtime library.
#pragma once

#include "runtime/engine.h"
