// The bundle archive format: a POSIX tar (pax) of a directory, packed deterministically so that
// the same tree always gives the same bytes and so the same SHA-256 id, and unpacked defensively
// because a worker unpacks archives it did not make.
//
// Packing: entries sorted by path (bytewise), times 0, owner and group 0 without names, modes
// normalised (directories and files with any execute bit 0755, other files 0644, symlinks kept
// as links). Sockets, devices and FIFOs are refused.
//
// Unpacking refuses (InvalidArgument naming the entry): absolute paths, `..` components, hard
// links, devices and other special files, an entry under a symlink, a symlink whose target is
// absolute or resolves outside the tree, more than `max_bytes` of content in total. What it
// writes ends read-only (no write bit anywhere).
//
// Thread-compatible: plain functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"

namespace volo::worker {

// The archive of `dir`'s contents (paths relative to it). NotFound/InvalidArgument for a missing
// directory or an entry that cannot be packed, IoError when reading fails.
Result<std::string> PackBundle(const std::string& dir);

// Unpacks `archive` into `dest`, which must not exist yet (it is created; on failure whatever
// was written is removed again).
Status UnpackBundle(std::string_view archive, const std::string& dest, uint64_t max_bytes);

// Removes a tree that UnpackBundle made read-only (the write bits are restored first).
void RemoveTree(const std::string& path);

}  // namespace volo::worker
