package billing

import (
	"fmt"
	"strings"
)

// Currency is an ISO 4217 code in upper case, such as "EUR".
type Currency string

// ParseCurrency checks a currency code (three letters, any case) and
// returns it in upper case.
func ParseCurrency(s string) (Currency, error) {
	if len(s) != 3 || strings.IndexFunc(s, func(r rune) bool { return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') }) >= 0 {
		return "", fmt.Errorf("%q is not a currency code: use three letters such as EUR, USD or GBP", s)
	}
	return Currency(strings.ToUpper(s)), nil
}

// zeroDecimal are the currencies Stripe bills in whole units (its list of
// zero-decimal currencies); threeDecimal those with three decimal places.
var (
	zeroDecimal  = "BIF CLP DJF GNF JPY KMF KRW MGA PYG RWF UGX VND VUV XAF XOF XPF"
	threeDecimal = "BHD JOD KWD OMR TND"
)

// Exponent is how many decimal places the currency's minor unit has: 2
// for EUR (cents), 0 for JPY, 3 for KWD. Amounts are rounded to it.
func (c Currency) Exponent() int {
	switch {
	case strings.Contains(zeroDecimal, string(c)):
		return 0
	case strings.Contains(threeDecimal, string(c)):
		return 3
	}
	return 2
}

// Lower is the code as Stripe spells it ("eur").
func (c Currency) Lower() string { return strings.ToLower(string(c)) }
