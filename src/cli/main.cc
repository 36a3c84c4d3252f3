#include "cli/cli.h"

int main(int argc, char** argv) { return orbit::cli::RunOrbit(argc, argv); }
