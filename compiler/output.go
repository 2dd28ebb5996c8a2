package compiler

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/pmezard/go-difflib/difflib"
)

// Write replaces each of out.Dirs under dir with exactly out.Files: stale files disappear.
// Each directory is written in full to a temporary sibling first and swapped in by rename, so
// a failed write leaves the old tree in place; once a swap fails the swaps already done are
// undone.
//
// Write replaces only directories it wrote itself: a directory under dir that holds a file
// guardrail compile does not write (see Owned) is an *OutputError, and nothing is written.
func Write(dir string, out *Output) (err error) {
	if fi, statErr := os.Stat(dir); statErr == nil && !fi.IsDir() {
		return &OutputError{Path: dir, Problem: "is not a directory", Fix: "name a directory with -o"}
	}
	for _, d := range out.Dirs {
		if err := Owned(filepath.Join(dir, d)); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("failed to create output directory: %w", err)
	}
	staging, err := os.MkdirTemp(dir, ".guardrail-")
	if err != nil {
		return fmt.Errorf("failed to create output directory: %w", err)
	}
	defer func() {
		if rmErr := removeAll(staging); rmErr != nil && err == nil {
			err = fmt.Errorf("the output is written, but the previous output could not be removed from %s: %w; remove it by hand", staging, rmErr)
		}
	}()
	for p, b := range out.Files {
		full := filepath.Join(staging, "new", filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			return fmt.Errorf("failed to write output: %w", err)
		}
		if err := os.WriteFile(full, b, 0o644); err != nil {
			return fmt.Errorf("failed to write output: %w", err)
		}
	}
	if err := os.MkdirAll(filepath.Join(staging, "old"), 0o755); err != nil {
		return fmt.Errorf("failed to write output: %w", err)
	}
	type swap struct{ target, old string }
	var done []swap
	defer func() {
		if err == nil {
			return
		}
		for i := len(done) - 1; i >= 0; i-- { // undo, newest first
			os.RemoveAll(done[i].target)
			if done[i].old != "" {
				os.Rename(done[i].old, done[i].target)
			}
		}
	}()
	for _, d := range out.Dirs {
		target := filepath.Join(dir, d)
		s := swap{target: target}
		if fi, statErr := os.Lstat(target); statErr == nil {
			s.old = filepath.Join(staging, "old", d)
			err := os.Rename(target, s.old)
			if errors.Is(err, fs.ErrPermission) && fi.Mode().Perm()&0o200 == 0 {
				// Moving a directory to another parent rewrites its "..": it must be writable.
				if os.Chmod(target, fi.Mode().Perm()|0o700) == nil {
					err = os.Rename(target, s.old)
				}
			}
			if err != nil {
				return fmt.Errorf("failed to replace %s: %w", target, err)
			}
		}
		done = append(done, s)
		if err := os.Rename(filepath.Join(staging, "new", d), target); err != nil {
			return fmt.Errorf("failed to replace %s: %w", target, err)
		}
	}
	return nil
}

// removeAll removes a tree, making its directories writable first when a plain RemoveAll
// fails (an old output with a read-only directory in it).
func removeAll(root string) error {
	if os.RemoveAll(root) == nil {
		return nil
	}
	_ = filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
		if err == nil && e.IsDir() {
			_ = os.Chmod(p, 0o755)
		}
		return nil
	})
	return os.RemoveAll(root)
}

// OutputError is an output directory guardrail will not write to.
type OutputError struct {
	Path    string
	Problem string
	Fix     string
}

func (e *OutputError) Error() string { return fmt.Sprintf("%s %s: %s", e.Path, e.Problem, e.Fix) }

// Owned returns nil when target is missing or empty, or was written by compile: it holds a
// ListingFile and nothing that listing does not name. Otherwise an *OutputError names what is in
// the way, so that compile never deletes what it did not write.
func Owned(target string) error {
	fi, err := os.Lstat(target)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return &OutputError{Path: target, Problem: "exists and is not a directory guardrail compile wrote", Fix: "move it away or compile into another directory (-o)"}
	}
	var files []string
	err = filepath.WalkDir(target, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(target, p)
		if !e.IsDir() {
			files = append(files, filepath.ToSlash(rel))
			if !e.Type().IsRegular() {
				files[len(files)-1] += " (not a regular file)"
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("failed to read %s: %w", target, err)
	}
	if len(files) == 0 {
		return nil
	}
	b, err := os.ReadFile(filepath.Join(target, ListingFile))
	listed, ok := parseListing(b)
	if err != nil || !ok {
		return &OutputError{
			Path:    target,
			Problem: fmt.Sprintf("was not written by guardrail compile (it has no %s listing), and compile replaces the whole directory", ListingFile),
			Fix:     "move it away, or compile into another directory (-o)",
		}
	}
	sort.Strings(files)
	for _, f := range files {
		if !listed[f] {
			return &OutputError{
				Path:    target,
				Problem: fmt.Sprintf("holds %s, which guardrail compile did not write, and compile replaces the whole directory", f),
				Fix:     "move it away, or compile into another directory (-o)",
			}
		}
	}
	return nil
}

// Diff compares out with what is on disk under dir, for out.Dirs only. It returns a unified
// diff, empty when the disk is up to date.
func Diff(dir string, out *Output) (string, error) {
	onDisk := map[string][]byte{}
	for _, d := range out.Dirs {
		if err := Owned(filepath.Join(dir, d)); err != nil {
			return "", err
		}
		root := filepath.Join(dir, d)
		err := filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
			if errors.Is(err, fs.ErrNotExist) && p == root {
				return nil
			}
			if err != nil || e.IsDir() {
				return err
			}
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(dir, p)
			onDisk[filepath.ToSlash(rel)] = b
			return nil
		})
		if err != nil {
			return "", fmt.Errorf("failed to read %s: %w", root, err)
		}
	}
	paths := map[string]bool{}
	for p := range out.Files {
		paths[p] = true
	}
	for p := range onDisk {
		paths[p] = true
	}
	sorted := make([]string, 0, len(paths))
	for p := range paths {
		sorted = append(sorted, p)
	}
	sort.Strings(sorted)
	var b strings.Builder
	for _, p := range sorted {
		have, want := onDisk[p], out.Files[p]
		if bytes.Equal(have, want) && (have != nil) == (want != nil) {
			continue
		}
		from, to := filepath.ToSlash(filepath.Join(dir, p)), filepath.ToSlash(filepath.Join(dir, p))
		if have == nil {
			from = "/dev/null"
		}
		if want == nil {
			to = "/dev/null"
		}
		// The labels after the tab say which side is which; patch(1) ignores them.
		text, err := difflib.GetUnifiedDiffString(difflib.UnifiedDiff{
			A: splitLines(have), B: splitLines(want),
			FromFile: from, FromDate: label(have, "(on disk)"), ToFile: to, ToDate: label(want, "(compiled)"), Context: 3,
		})
		if err != nil {
			return "", err
		}
		b.WriteString(strings.ReplaceAll(text, noNewline, "\n\\ No newline at end of file\n"))
	}
	return b.String(), nil
}

func label(b []byte, l string) string {
	if b == nil {
		return ""
	}
	return l
}

// splitLines splits text into lines that keep their newline; difflib's own SplitLines adds a
// phantom empty line, which makes the hunks invalid for patch(1).
func splitLines(b []byte) []string {
	if len(b) == 0 {
		return nil
	}
	lines := strings.SplitAfter(string(b), "\n")
	if lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	} else {
		lines[len(lines)-1] += noNewline // differs from the same text with a newline, as it should
	}
	return lines
}

// noNewline ends a last line that has no newline; Diff writes it as patch(1)'s marker.
const noNewline = "\x00no newline\n"

// Orphans returns the directories under dir that look like compiled environments (they hold a
// kustomization.yaml and a rendered.yaml) but that out does not produce: the output of an
// environment whose file was removed.
func Orphans(dir string, out *Output) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	produced := map[string]bool{}
	for _, d := range out.Dirs {
		produced[d] = true
	}
	var orphans []string
	for _, e := range entries {
		if !e.IsDir() || produced[e.Name()] {
			continue
		}
		_, errK := os.Stat(filepath.Join(dir, e.Name(), "kustomization.yaml"))
		_, errR := os.Stat(filepath.Join(dir, e.Name(), RenderedFile))
		if errK == nil && errR == nil {
			orphans = append(orphans, filepath.Join(dir, e.Name()))
		}
	}
	return orphans, nil
}
