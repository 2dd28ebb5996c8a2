package kyverno

// SetPrefilter turns the prefilter off (or back on) so that tests can check it never changes a verdict.
func SetPrefilter(e *Engine, on bool) { e.noPrefilter = !on }
