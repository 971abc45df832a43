// Package filelog is hotpath's embedded durable log: the file:DIR ingest
// sink, an append-only log of opaque events split into segment files,
// written with one write(2) and (by default) one fsync per batch, and
// recovered on Open by cutting off a torn or corrupt tail.
//
// # Directory
//
// DIR holds the segment files and a LOCK file (and, during a Ping, a PROBE
// file). A segment is named after the
// offset of its first record, zero-padded to 20 decimal digits
// (00000000000000000000.log, 00000000000000001024.log, …), so that a sorted
// listing is the log's order. Other files in DIR are ignored. One process at
// a time writes DIR: Open takes an exclusive flock(2) on DIR/LOCK and fails
// with ErrLocked while another Log holds it (in this or another process).
// Stats and ReadDir take no lock and never write.
//
// # Format (version 1)
//
// A segment starts with an 8-byte header: the magic "HPLG", the format
// version byte (1) and three zero bytes. Records follow back to back, each
// an 8-byte header and the payload:
//
//	bytes 0..3  payload length n, uint32 little-endian (n ≤ MaxRecordBytes)
//	bytes 4..7  CRC-32C (Castagnoli) of bytes 0..3 followed by the payload,
//	            uint32 little-endian
//	bytes 8..   the payload, n bytes (n may be 0)
//
// There is no per-record offset: a record's offset is its segment's first
// offset plus its index in the segment. Offsets are contiguous across
// segments and restarts: a sealed segment holds exactly (next segment's
// first offset − its own) records.
//
// # Durability
//
// Append returns only after the batch's records were written to the
// segment file with one write (pwrite) call. With FsyncBatch (the default)
// it also fsyncs the file before returning, so everything Append returned
// for survives both a process crash (SIGKILL) and a power loss or kernel
// crash. With FsyncNever the data reaches only the page cache before Append
// returns: it survives a process crash (the kernel still writes it out) but
// acknowledged records MAY BE LOST on power loss or kernel crash; this is
// unsafe for data a client was told is stored, and is meant for
// measurements. In both modes a segment is fsynced before the next one is
// created, and the directory is fsynced after a segment is created.
//
// Records of an Append that returned an error are cut off the file before
// it returns. If a crash interrupts an Append, the records of that batch
// that reached the disk whole may survive (the client was not told they were
// stored; a client that retries may find its event twice): the log is
// at-least-once for unacknowledged events and never loses an acknowledged
// one.
//
// # Recovery
//
// Open checks the last (active) segment record by record. There, the first
// record that is incomplete (short header, short payload), has a bad length
// or a CRC mismatch ends the log: it and everything after it are truncated
// away (then fsynced) and logged through Options.Logger; they are never
// served. A torn write and a damaged record cannot be told apart there, so
// damage inside the active segment also costs the records after it (the
// warning says how many bytes were cut).
//
// Sealed (earlier) segments cannot be torn — each was fsynced before the
// next one was created — so Open does not read them: it reads each one's
// header and checks that its size can hold its records (the next
// segment's first offset minus its own), and refuses with an error
// wrapping ErrCorrupt that names the file when either is wrong. Open's time
// so grows with the number of segments and the active segment's size, not
// with the log's. Damage inside a sealed segment (a corrupt record, a
// missing segment, bytes appended) is never cut off and never served: Read,
// ReadDir and Stats stop at it with an error wrapping ErrCorrupt that names
// the file and byte position, after the records before it. Stats reads
// every record of every segment: it is the scrub.
//
// # Why not a library
//
// Of the modules available to the project, the key-value stores (pebble,
// badger, bbolt) bring an index, compaction and their own WAL for a job that is only "append a batch, fsync, read in
// order"; etcd's wal package is tied to raft entries and the etcd server
// module. What is needed is a few hundred lines over os.File, with the
// record decoder fuzzed (FuzzDecode, FuzzRecover).
package filelog
