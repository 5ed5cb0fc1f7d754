#!/usr/bin/env node
// npm links a bin when it installs, before the workspace is built: this committed file is there
// (with its execute bit) from the start, and loads the build when run.
import '../dist/cli/cli.js';
