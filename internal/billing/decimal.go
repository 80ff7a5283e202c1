package billing

import (
	"errors"
	"fmt"
	"math/bits"
	"strconv"
	"strings"
)

// Decimal is an exact amount of money in ten-thousandths of a currency's
// major unit: Decimal(2900) is 0.29 (29 cents of a euro). Prices in the
// settings have at most four decimal places (0.1850), so every price, and
// every amount of whole users times a price, is exact; only the rounding of
// an amount to the currency's minor unit (Round) loses anything. No
// floating point is involved anywhere.
type Decimal int64

// Places is the number of decimal places a Decimal holds.
const Places = 4

// one is 1.0000 as a Decimal.
const one = 10000

// MaxPrice bounds a price in the settings (10,000.0000 of the major unit
// per user per month): with it no product of a price and an int32 count
// of users overflows.
const MaxPrice Decimal = 10000 * one

// ParseDecimal reads a non-negative decimal such as "0.29", "12" or
// "0.1850": digits, at most one '.', at most Places decimal places, no
// sign, exponent or separators. It never goes through a float.
func ParseDecimal(s string) (Decimal, error) {
	if s == "" {
		return 0, errors.New("empty")
	}
	whole, frac, dot := strings.Cut(s, ".")
	if whole == "" || dot && frac == "" {
		return 0, fmt.Errorf("%q is not a decimal number such as 0.29", s)
	}
	for _, part := range []string{whole, frac} {
		for _, r := range part {
			if r < '0' || r > '9' {
				return 0, fmt.Errorf("%q is not a decimal number such as 0.29 (digits and one '.', no sign or exponent)", s)
			}
		}
	}
	if len(frac) > Places {
		return 0, fmt.Errorf("%q has more than %d decimal places", s, Places)
	}
	whole = strings.TrimLeft(whole, "0")
	if len(whole) > 9 {
		return 0, fmt.Errorf("%q is too large", s)
	}
	w, _ := strconv.ParseInt("0"+whole, 10, 64)
	f, _ := strconv.ParseInt((frac + "0000")[:Places], 10, 64)
	return Decimal(w*one + f), nil
}

// MustDecimal is ParseDecimal for constants; it panics on a bad literal.
func MustDecimal(s string) Decimal {
	d, err := ParseDecimal(s)
	if err != nil {
		panic("billing: " + err.Error())
	}
	return d
}

// Format writes d with at least minPlaces and at most Places decimal
// places, dropping trailing zeros beyond minPlaces: Format(2) of 0.29 is
// "0.29", of 0.185 "0.185", of 7 "7.00". A negative d gets a '-'.
func (d Decimal) Format(minPlaces int) string {
	minPlaces = max(0, min(minPlaces, Places))
	neg := d < 0
	u := uint64(d)
	if neg {
		u = uint64(-d)
	}
	s := fmt.Sprintf("%d.%04d", u/one, u%one)
	for strings.HasSuffix(s, "0") && len(s)-strings.IndexByte(s, '.')-1 > minPlaces {
		s = s[:len(s)-1]
	}
	s = strings.TrimSuffix(s, ".")
	if neg {
		s = "-" + s
	}
	return s
}

// String writes d with the decimal places it needs (at least none).
func (d Decimal) String() string { return d.Format(0) }

// Round rounds d to places decimal places (0..Places), halves away from
// zero: 0.125 rounded to 2 places is 0.13. This is the one rounding
// billing does, once per line: a line's amount is rounded to the
// currency's minor unit, and totals are sums of rounded lines.
func (d Decimal) Round(places int) Decimal {
	if places >= Places {
		return d
	}
	unit := Decimal(1)
	for range Places - max(places, 0) {
		unit *= 10
	}
	r := d % unit
	d -= r
	switch {
	case r >= 0 && 2*r >= unit:
		d += unit
	case r < 0 && -2*r >= unit:
		d -= unit
	}
	return d
}

// Minor returns d in the currency's minor units (cents), d having been
// rounded to places decimal places.
func (d Decimal) Minor(places int) int64 {
	v := int64(d.Round(places))
	for range Places - places {
		v /= 10
	}
	return v
}

// errOverflow: an amount beyond what a Decimal holds (about 922 trillion of
// the major unit); no real price list gets near it.
var errOverflow = errors.New("billing: amount too large")

// times returns d × n, or errOverflow.
func (d Decimal) times(n int) (Decimal, error) {
	if d < 0 || n < 0 {
		return 0, errors.New("billing: negative price or count")
	}
	hi, lo := bits.Mul64(uint64(d), uint64(n))
	if hi != 0 || lo > 1<<63-1 {
		return 0, errOverflow
	}
	return Decimal(lo), nil
}

// plus returns d + e, or errOverflow.
func (d Decimal) plus(e Decimal) (Decimal, error) {
	s := d + e
	if (e > 0 && s < d) || (e < 0 && s > d) {
		return 0, errOverflow
	}
	return s, nil
}

// MarshalText writes d as its decimal text ("0.29"); JSON gets a string,
// which keeps it exact in every reader.
func (d Decimal) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText reads what ParseDecimal reads.
func (d *Decimal) UnmarshalText(b []byte) error {
	v, err := ParseDecimal(string(b))
	if err != nil {
		return err
	}
	*d = v
	return nil
}
