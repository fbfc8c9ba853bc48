# Sourced by the bench scripts (from the repository root).
# The absolute target directory cargo uses here: honours CARGO_TARGET_DIR, relative or absolute,
# and the default `target/`, so binaries are found whatever directory a later command runs in.
target_dir() {
  cargo metadata --format-version 1 --no-deps \
    | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])'
}
