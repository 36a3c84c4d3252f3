#include "cli/cli.h"
#include "core/process.h"

int main(int argc, char** argv) {
  orbit::ConfigureAllocatorForLargeBuffers();
  return orbit::cli::RunOrbit(argc, argv);
}
