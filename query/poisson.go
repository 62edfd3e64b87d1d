package query

import "math"

// PoissonTailLog returns ln P(X >= k) for X ~ Poisson(lambda): the natural log of the upper
// tail, which is the regularized lower incomplete gamma function P(k, lambda) for k >= 1.
// Working in logs keeps tiny tails (1e-300 and far below) comparable instead of 0.
//
// For lambda < k+1 it sums the series of P directly (all terms positive, no cancellation);
// otherwise it evaluates Q = 1-P by its continued fraction (modified Lentz) and returns
// log1p(-Q), where P is not small and the subtraction loses nothing that matters.
func PoissonTailLog(k uint64, lambda float64) float64 {
	switch {
	case k == 0:
		return 0
	case lambda <= 0:
		return math.Inf(-1)
	case math.IsInf(lambda, 1):
		return 0
	}
	a, x := float64(k), lambda
	lg, _ := math.Lgamma(a)
	prefix := -x + a*math.Log(x) - lg // ln(e^-x x^a / Gamma(a))
	if x < a+1 {
		// P(a,x) = e^-x x^a / Gamma(a+1) * sum_{n>=0} x^n / ((a+1)...(a+n))
		sum, term := 1.0, 1.0
		for n := 1; n < 100000; n++ {
			term *= x / (a + float64(n))
			sum += term
			if term < sum*1e-17 {
				break
			}
		}
		return prefix - math.Log(a) + math.Log(sum)
	}
	// Q(a,x) = e^-x x^a / Gamma(a) * 1/(x+1-a- 1*(1-a)/(x+3-a- 2*(2-a)/(x+5-a- ...)))
	const tiny = 1e-300
	b := x + 1 - a
	cc := 1 / tiny
	d := 1 / b
	h := d
	for i := 1; i < 100000; i++ {
		an := -float64(i) * (float64(i) - a)
		b += 2
		d = an*d + b
		if math.Abs(d) < tiny {
			d = tiny
		}
		cc = b + an/cc
		if math.Abs(cc) < tiny {
			cc = tiny
		}
		d = 1 / d
		del := d * cc
		h *= del
		if math.Abs(del-1) < 1e-16 {
			break
		}
	}
	q := math.Exp(prefix + math.Log(h))
	if q >= 1 {
		return 0 // cannot happen (P is near or above 1/2 here); the conservative answer
	}
	return math.Log1p(-q)
}

// PoissonTail returns P(X >= k) for X ~ Poisson(lambda). It underflows to 0 below about
// 1e-308; rank by PoissonTailLog.
func PoissonTail(k uint64, lambda float64) float64 { return math.Exp(PoissonTailLog(k, lambda)) }
