// Public header of the vision library.
#pragma once

#include "vision/image_io.h"
#include "vision/metrics.h"
#include "vision/overlay.h"
#include "vision/pipeline.h"
#include "vision/postprocess.h"
#include "vision/preprocess.h"
#include "vision/recipe.h"
#include "vision/segmentation.h"
