// Public header of the core library: error values, file helpers and logging set-up.
#pragma once

#include "core/file.h"
#include "core/logging.h"
#include "core/status.h"
