package loadgen

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Spike raises one error type's rate by Factor for Duration, from Start after
// the run start. The other types keep their rates, so the total rate rises
// too (see Generator.RateFactor).
type Spike struct {
	ErrorType string
	Factor    float64       // > 1: the type's rate during the spike over its usual rate
	Duration  time.Duration // > 0
	Start     time.Duration // >= 0, offset from the run start
}

// ParseSpike parses TYPE:FACTORx:DURATION[@START], e.g.
// "billing_not_verified:20x:5m@2m" (20 times the usual rate for 5 minutes,
// starting 2 minutes into the run). The "x" is optional; START defaults to 0.
// Durations use time.ParseDuration syntax.
func ParseSpike(s string) (Spike, error) {
	spec, start, hasStart := strings.Cut(s, "@")
	parts := strings.Split(spec, ":")
	if len(parts) != 3 {
		return Spike{}, errors.New("want TYPE:FACTORx:DURATION[@START], e.g. billing_not_verified:20x:5m@2m")
	}
	sp := Spike{ErrorType: parts[0]}
	if !errorTypeRe.MatchString(sp.ErrorType) {
		return Spike{}, fmt.Errorf("error type %q does not match ^[a-z0-9_]{1,128}$", sp.ErrorType)
	}
	f, err := strconv.ParseFloat(strings.TrimSuffix(parts[1], "x"), 64)
	if err != nil {
		return Spike{}, fmt.Errorf("factor %q is not a number like 20x", parts[1])
	}
	sp.Factor = f
	if sp.Duration, err = time.ParseDuration(parts[2]); err != nil {
		return Spike{}, fmt.Errorf("duration %q: %w", parts[2], err)
	}
	if hasStart {
		if sp.Start, err = time.ParseDuration(start); err != nil {
			return Spike{}, fmt.Errorf("start %q: %w", start, err)
		}
	}
	if err := sp.validate(); err != nil {
		return Spike{}, err
	}
	return sp, nil
}

func (s Spike) validate() error {
	switch {
	case !(s.Factor > 1) || math.IsInf(s.Factor, 0):
		return fmt.Errorf("factor %v must be a finite number above 1", s.Factor)
	case s.Duration <= 0:
		return fmt.Errorf("duration %v must be positive", s.Duration)
	case s.Start < 0:
		return fmt.Errorf("start %v must not be negative", s.Start)
	}
	return nil
}

// String formats s as ParseSpike reads it.
func (s Spike) String() string {
	return s.ErrorType + ":" + strconv.FormatFloat(s.Factor, 'g', -1, 64) + "x:" + s.Duration.String() + "@" + s.Start.String()
}

// Active reports whether the spike is on at elapsed time since the run start.
func (s Spike) Active(elapsed time.Duration) bool {
	return elapsed >= s.Start && elapsed < s.Start+s.Duration
}
