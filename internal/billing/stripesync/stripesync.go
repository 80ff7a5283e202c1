// Package stripesync keeps one Stripe customer and one subscription per
// customer tenant, and sets each subscription's quantity and price from a
// closed month of the usage ledger (galmirror stripe).
//
// Why a subscription item's quantity and not Stripe's usage meters: the
// unit price depends on the aggregate volume of all the MSP's customers,
// which no Stripe price of one subscription can know, so galmirror computes
// the tier anyway; a month's users are a peak (or an average) of daily
// counts, which meters cannot aggregate (they sum, count or take the last
// event); and a licensed item reads on the invoice as "27 × galmirror users
// at €0.29", which the customer can check against `galmirror usage`. One
// write per customer and month, with the month's price.
//
// Every write carries an idempotency key made from what it does (the
// installation, the customer, the month, the quantity, the price): a retry,
// by stripe-go after a lost answer or by a second run of the command, sends
// the same key, and Stripe answers it with the first result instead of
// acting twice. Stripe forgets keys after 24 hours; beyond that, customers
// and subscriptions are found again by their metadata before one is
// created, a month already set is recorded in the state database and not
// sent again, and a quantity is absolute (setting 27 twice is 27).
//
// The secret key is never printed, logged or put in an event: errors pass
// through redact.
package stripesync

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/stripe/stripe-go/v85"

	"github.com/galmirror/galmirror/internal/billing"
	"github.com/galmirror/galmirror/internal/events"
	"github.com/galmirror/galmirror/internal/store"
)

// Metadata keys galmirror puts on what it creates in Stripe.
const (
	MetaTenantID = "galmirror_tenant_id"
	MetaTenants  = "galmirror_tenants"
	MetaPeriod   = "galmirror_period"
	MetaUsers    = "galmirror_users"
)

// ProductName is the name of the product galmirror creates.
const ProductName = "galmirror users"

// Options configure a run.
type Options struct {
	// Key is the Stripe secret key. It is sent to Stripe only.
	Key string
	// Endpoint is the API's base URL (https://api.stripe.com).
	Endpoint string
	// HTTPClient sends the requests (nil: one with the system's trust
	// store and an 80 s timeout).
	HTTPClient *http.Client
	// Store keeps the links and what was set.
	Store *store.Store
	// Installation is the state database's installation id; it makes
	// the idempotency keys of this installation its own.
	Installation string
	// BillingDay is the day of the month new subscriptions renew on.
	BillingDay int
	// Product is an existing product to price ("": galmirror's own).
	Product string
	// DryRun prints the changes and makes none.
	DryRun bool
	// Out receives one line per change, before it is made.
	Out io.Writer
	// Emit reports each change made, and each failure (events 460-465).
	Emit func(context.Context, events.Event)
}

// Result counts a run's customers.
type Result struct {
	Changed   int // customers with at least one change (made, or planned in a dry run)
	Unchanged int // customers whose month was already set
	Failed    int
	Skipped   int // customers without an Entra tenant id
}

type run struct {
	o      Options
	sc     *stripe.Client
	prices billing.PriceList
	rep    *billing.Report
	links  map[string]store.StripeCustomer
	// product is the product id ("" until known; newProduct in a dry
	// run when it would be created).
	product string
	// prices made or found this run, by lookup key.
	priceIDs map[string]string
}

// placeholder stands for an object a dry run would create.
const placeholder = "(new)"

// Run brings every customer of a closed month's report into Stripe.
// Failures of one customer are reported (event 465) and the others go on;
// the error then says how many failed.
func Run(ctx context.Context, o Options, prices billing.PriceList, rep *billing.Report) (Result, error) {
	if rep.InProgress {
		return Result{}, fmt.Errorf("%s is not over yet: Stripe is set from closed months only", rep.Period)
	}
	if o.Key == "" {
		return Result{}, errors.New("no Stripe secret key")
	}
	if o.Emit == nil {
		o.Emit = func(context.Context, events.Event) {}
	}
	if o.Out == nil {
		o.Out = io.Discard
	}
	links, err := o.Store.StripeCustomers(ctx)
	if err != nil {
		return Result{}, err
	}
	r := &run{o: o, sc: newClient(o), prices: prices, rep: rep, links: links, priceIDs: map[string]string{}}
	var res Result
	for i := range rep.Customers {
		c := &rep.Customers[i]
		if c.TenantID == "" {
			res.Skipped++
			continue
		}
		changed, err := r.customer(ctx, c)
		switch {
		case err != nil:
			res.Failed++
			r.fail(ctx, c, err)
		case changed:
			res.Changed++
		default:
			res.Unchanged++
		}
		if ctx.Err() != nil {
			return res, ctx.Err()
		}
	}
	if res.Failed > 0 {
		return res, fmt.Errorf("%d of %d customers could not be brought into Stripe (event 465 says why)", res.Failed, len(rep.Customers))
	}
	return res, nil
}

func newClient(o Options) *stripe.Client {
	hc := o.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: 80 * time.Second}
	}
	b := stripe.GetBackendWithConfig(stripe.APIBackend, &stripe.BackendConfig{
		URL: stripe.String(o.Endpoint), HTTPClient: hc, MaxNetworkRetries: stripe.Int64(2),
		LeveledLogger: &stripe.LeveledLogger{Level: stripe.LevelNull}, EnableTelemetry: stripe.Bool(false),
	})
	return stripe.NewClient(o.Key, stripe.WithBackends(&stripe.Backends{API: b, Connect: b, Uploads: b, MeterEvents: b}))
}

// idem makes the idempotency key of a write from what it does.
func (r *run) idem(parts ...string) *string {
	inst := r.o.Installation
	if len(inst) > 16 {
		inst = inst[:16]
	}
	k := "galmirror-" + inst + "-" + strings.Join(parts, "-")
	if len(k) > 255 {
		k = k[:255]
	}
	return &k
}

// say prints a change before it is made.
func (r *run) say(c *billing.CustomerUsage, format string, args ...any) {
	verb := ""
	if r.o.DryRun {
		verb = "would "
	}
	fmt.Fprintf(r.o.Out, "%s: %s%s\n", c.Customer, verb, fmt.Sprintf(format, args...))
}

func (r *run) emit(ctx context.Context, c *billing.CustomerUsage, id events.ID, detail string, fields ...events.Field) {
	tenant := ""
	if c != nil {
		// The event's tenant is the customer's first settings entry;
		// tenants lists them all (entries of one Entra tenant are one
		// customer).
		tenant = c.Tenants[0]
		fields = append([]events.Field{events.F("customer", c.Customer), events.F("tenant_id", c.TenantID),
			events.F("tenants", strings.Join(c.Tenants, ","))}, fields...)
	}
	r.o.Emit(ctx, events.Event{ID: id, Tenant: tenant, Detail: detail, Fields: fields})
}

// customer brings one customer's link, subscription, price and quantity in
// line; changed reports whether anything was (or, in a dry run, would be)
// written.
func (r *run) customer(ctx context.Context, c *billing.CustomerUsage) (changed bool, err error) {
	link, linked := r.links[c.TenantID]
	if done, err := r.o.Store.GetStripePeriod(ctx, c.TenantID, r.rep.Period); err == nil && linked && link.Item != "" {
		if id, ok := r.knownPrice(ctx, c); ok && done.Quantity == c.Billable && done.Price == id {
			fmt.Fprintf(r.o.Out, "%s: %s already set on %s: %d billable users at %s (%s)\n", c.Customer, r.rep.Period,
				link.Subscription, done.Quantity, done.Price, done.Applied.Format(time.DateOnly))
			return false, nil
		}
	} else if err != nil && !errors.Is(err, store.ErrNotFound) {
		return false, err
	}
	price, _, err := r.price(ctx, c)
	if err != nil {
		return false, err
	}
	if !linked || link.Customer == "" {
		link = store.StripeCustomer{TenantID: c.TenantID}
		if link.Customer, err = r.ensureCustomer(ctx, c); err != nil {
			return false, err
		}
		changed = true
	}
	if link.Subscription == "" || link.Item == "" {
		if err := r.ensureSubscription(ctx, c, &link, price); err != nil {
			return false, err
		}
		return true, nil
	}
	if err := r.setQuantity(ctx, c, link, price); err != nil {
		return false, err
	}
	return true, nil
}

// knownPrice is the customer's price id if it is known without a request.
func (r *run) knownPrice(ctx context.Context, c *billing.CustomerUsage) (string, bool) {
	key := r.lookupKey(c)
	if id, ok := r.priceIDs[key]; ok {
		return id, true
	}
	id, err := r.o.Store.StripePrice(ctx, key)
	return id, err == nil
}

// lookupKey names the Stripe price of the customer's plan and unit price.
func (r *run) lookupKey(c *billing.CustomerUsage) string {
	return fmt.Sprintf("galmirror-%s-%s-%s", c.Plan, r.prices.Currency.Lower(), c.Unit().String())
}

// perInterval is the price per user and billing interval: the unit price
// per month, times twelve on an annual plan.
func (r *run) perInterval(c *billing.CustomerUsage) billing.Decimal {
	if c.Plan == billing.Annual {
		return c.Unit() * 12 // below MaxPrice × 12: no overflow
	}
	return c.Unit()
}

// unitAmount is the price per user and billing interval in the currency's
// minor units, as Stripe's decimal text: "29" for EUR 0.29, "18.5" for EUR
// 0.185, "216" for EUR 0.18 a month billed yearly. Exact: no float.
func (r *run) unitAmount(c *billing.CustomerUsage) string {
	v := r.perInterval(c)
	for range r.prices.Currency.Exponent() {
		v *= 10
	}
	return v.String()
}

func interval(p billing.Plan) string {
	if p == billing.Annual {
		return "year"
	}
	return "month"
}

// ensureProduct returns the product prices are made for.
func (r *run) ensureProduct(ctx context.Context, c *billing.CustomerUsage) (string, error) {
	if r.product != "" {
		return r.product, nil
	}
	if r.o.Product != "" {
		r.product = r.o.Product
		return r.product, nil
	}
	id, err := r.o.Store.StripeProduct(ctx)
	if err != nil || id != "" {
		r.product = id
		return id, err
	}
	r.say(c, "create the Stripe product %q", ProductName)
	if r.o.DryRun {
		r.product = placeholder
		return r.product, nil
	}
	p := &stripe.ProductCreateParams{Name: stripe.String(ProductName)}
	p.AddMetadata("galmirror_installation", r.o.Installation)
	p.IdempotencyKey = r.idem("product")
	prod, err := r.sc.V1Products.Create(ctx, p)
	if err != nil {
		return "", fmt.Errorf("create the product: %w", err)
	}
	if err := r.o.Store.SaveStripeProduct(ctx, prod.ID); err != nil {
		return "", err
	}
	r.product = prod.ID
	r.emit(ctx, nil, events.StripeProductCreated, ProductName, events.F("product", prod.ID))
	return prod.ID, nil
}

// price returns the id of the Stripe price for the customer's plan and
// unit price, finding it by its lookup key or creating it.
func (r *run) price(ctx context.Context, c *billing.CustomerUsage) (id string, created bool, err error) {
	key := r.lookupKey(c)
	if id, ok := r.knownPrice(ctx, c); ok {
		return id, false, nil
	}
	list := r.sc.V1Prices.List(ctx, &stripe.PriceListParams{LookupKeys: []*string{stripe.String(key)}, Active: stripe.Bool(true)})
	for p, err := range list.All(ctx) {
		if err != nil {
			return "", false, fmt.Errorf("look up price %s: %w", key, err)
		}
		if p.LookupKey == key && p.Currency == stripe.Currency(r.prices.Currency.Lower()) && p.Recurring != nil && string(p.Recurring.Interval) == interval(c.Plan) {
			r.priceIDs[key] = p.ID
			if !r.o.DryRun {
				err = r.o.Store.SaveStripePrice(ctx, key, p.ID)
			}
			return p.ID, false, err
		}
		break // lookup keys are unique: the first answer is the one
	}
	product, err := r.ensureProduct(ctx, c)
	if err != nil {
		return "", false, err
	}
	amount := r.unitAmount(c)
	r.say(c, "create the Stripe price %s: %s %s per user per %s (unit amount %s in minor units)", key, r.prices.Currency,
		r.perInterval(c).Format(r.prices.Currency.Exponent()), interval(c.Plan), amount)
	if r.o.DryRun {
		r.priceIDs[key] = placeholder
		return placeholder, true, nil
	}
	p := &stripe.PriceCreateParams{
		Currency: stripe.String(r.prices.Currency.Lower()), Product: stripe.String(product), LookupKey: stripe.String(key),
		Nickname:  stripe.String(fmt.Sprintf("%s, %s plan, %s %s per user per month", ProductName, c.Plan, r.prices.Currency, c.Unit().Format(r.prices.Currency.Exponent()))),
		Recurring: &stripe.PriceCreateRecurringParams{Interval: stripe.String(interval(c.Plan))},
	}
	if whole, err := strconv.ParseInt(amount, 10, 64); err == nil {
		p.UnitAmount = stripe.Int64(whole)
	} else {
		p.AddExtra("unit_amount_decimal", amount) // exact text, never a float
	}
	p.IdempotencyKey = r.idem("price", key)
	pr, err := r.sc.V1Prices.Create(ctx, p)
	if err != nil {
		return "", false, fmt.Errorf("create price %s: %w", key, err)
	}
	r.priceIDs[key] = pr.ID
	if err := r.o.Store.SaveStripePrice(ctx, key, pr.ID); err != nil {
		return "", false, err
	}
	r.emit(ctx, c, events.StripePriceCreated, key, events.F("price", pr.ID), events.F("lookup_key", key),
		events.F("unit_amount", amount), events.F("currency", string(r.prices.Currency)), events.F("interval", interval(c.Plan)))
	return pr.ID, true, nil
}

// ensureCustomer finds the customer's Stripe customer by its metadata, or
// creates it, and records the link.
func (r *run) ensureCustomer(ctx context.Context, c *billing.CustomerUsage) (string, error) {
	q := &stripe.CustomerSearchParams{SearchParams: stripe.SearchParams{Query: fmt.Sprintf("metadata['%s']:'%s'", MetaTenantID, c.TenantID)}}
	for cu, err := range r.sc.V1Customers.Search(ctx, q).All(ctx) {
		if err != nil {
			return "", fmt.Errorf("search the Stripe customers: %w", err)
		}
		if cu.Metadata[MetaTenantID] != c.TenantID || cu.Deleted {
			break // Stripe's search matched loosely: not ours
		}
		r.say(c, "link to the Stripe customer %s (found by its %s)", cu.ID, MetaTenantID)
		if r.o.DryRun {
			return cu.ID, nil
		}
		if err := r.o.Store.SaveStripeCustomer(ctx, store.StripeCustomer{TenantID: c.TenantID, Customer: cu.ID}); err != nil {
			return "", err
		}
		r.emit(ctx, c, events.StripeCustomerLinked, "found", events.F("stripe_customer", cu.ID), events.F("how", "found"))
		return cu.ID, nil
	}
	r.say(c, "create the Stripe customer %q", c.Customer)
	if r.o.DryRun {
		return placeholder, nil
	}
	p := &stripe.CustomerCreateParams{Name: stripe.String(c.Customer),
		Description: stripe.String("galmirror customer tenant " + c.TenantID)}
	p.AddMetadata(MetaTenantID, c.TenantID)
	p.AddMetadata(MetaTenants, strings.Join(c.Tenants, ","))
	p.IdempotencyKey = r.idem("customer", c.TenantID)
	cu, err := r.sc.V1Customers.Create(ctx, p)
	if err != nil {
		return "", fmt.Errorf("create the Stripe customer: %w", err)
	}
	if err := r.o.Store.SaveStripeCustomer(ctx, store.StripeCustomer{TenantID: c.TenantID, Customer: cu.ID}); err != nil {
		return "", err
	}
	r.emit(ctx, c, events.StripeCustomerLinked, "created", events.F("stripe_customer", cu.ID), events.F("how", "created"))
	return cu.ID, nil
}

// ensureSubscription finds the customer's galmirror subscription by its
// metadata, or creates it with the month's quantity and price, and records
// the link and the month.
func (r *run) ensureSubscription(ctx context.Context, c *billing.CustomerUsage, link *store.StripeCustomer, price string) error {
	if link.Customer != placeholder {
		list := r.sc.V1Subscriptions.List(ctx, &stripe.SubscriptionListParams{Customer: stripe.String(link.Customer)})
		for s, err := range list.All(ctx) {
			if err != nil {
				return fmt.Errorf("list the subscriptions of %s: %w", link.Customer, err)
			}
			if s.Metadata[MetaTenantID] != c.TenantID || s.Items == nil || len(s.Items.Data) != 1 {
				continue
			}
			r.say(c, "link to the subscription %s (found by its %s)", s.ID, MetaTenantID)
			link.Subscription, link.Item = s.ID, s.Items.Data[0].ID
			if !r.o.DryRun {
				if err := r.o.Store.SaveStripeCustomer(ctx, *link); err != nil {
					return err
				}
			}
			return r.setQuantity(ctx, c, *link, price)
		}
	}
	article := "a"
	if c.Plan == billing.Annual {
		article = "an"
	}
	r.say(c, "create %s %s subscription for %s: %d billable users of %s at %s %s per user per month (price %s), renewing on day %d",
		article, c.Plan, link.Customer, c.Billable, r.rep.Period, r.prices.Currency, c.UnitPrice, price, r.o.BillingDay)
	if r.o.DryRun {
		return nil
	}
	p := &stripe.SubscriptionCreateParams{
		Customer: stripe.String(link.Customer),
		Items:    []*stripe.SubscriptionCreateItemParams{{Price: stripe.String(price), Quantity: stripe.Int64(int64(c.Billable))}},
		// Renew on the billing day; nothing is charged for the days
		// before it.
		BillingCycleAnchorConfig: &stripe.SubscriptionCreateBillingCycleAnchorConfigParams{DayOfMonth: stripe.Int64(int64(r.o.BillingDay))},
		ProrationBehavior:        stripe.String("none"),
		CollectionMethod:         stripe.String("send_invoice"),
		DaysUntilDue:             stripe.Int64(14),
	}
	if c.Plan == billing.Annual {
		// Increases during the year are invoiced month by month.
		p.PendingInvoiceItemInterval = &stripe.SubscriptionCreatePendingInvoiceItemIntervalParams{Interval: stripe.String("month")}
	}
	p.AddMetadata(MetaTenantID, c.TenantID)
	p.AddMetadata(MetaPeriod, r.rep.Period)
	p.AddMetadata(MetaUsers, strconv.Itoa(c.Users))
	p.IdempotencyKey = r.idem("subscription", c.TenantID, r.rep.Period, strconv.Itoa(c.Billable), price)
	s, err := r.sc.V1Subscriptions.Create(ctx, p)
	if err != nil {
		return fmt.Errorf("create the subscription: %w", err)
	}
	if s.Items == nil || len(s.Items.Data) == 0 {
		return fmt.Errorf("Stripe created subscription %s without an item", s.ID)
	}
	link.Subscription, link.Item = s.ID, s.Items.Data[0].ID
	if err := r.o.Store.SaveStripeCustomer(ctx, *link); err != nil {
		return err
	}
	if err := r.o.Store.SaveStripePeriod(ctx, store.StripePeriod{TenantID: c.TenantID, Period: r.rep.Period, Quantity: c.Billable,
		Price: price, IdempotencyKey: *p.IdempotencyKey}); err != nil {
		return err
	}
	r.emit(ctx, c, events.StripeSubscriptionCreated, r.rep.Period, events.F("subscription", s.ID), events.F("item", link.Item),
		events.F("price", price), events.F("period", r.rep.Period), events.FInt("quantity", int64(c.Billable)), events.FInt("users", int64(c.Users)))
	return nil
}

// setQuantity sets the month's quantity and price on the subscription item.
func (r *run) setQuantity(ctx context.Context, c *billing.CustomerUsage, link store.StripeCustomer, price string) error {
	r.say(c, "set %s (item %s) to %d billable users of %s at %s %s per user per month (price %s)",
		link.Subscription, link.Item, c.Billable, r.rep.Period, r.prices.Currency, c.UnitPrice, price)
	if r.o.DryRun {
		return nil
	}
	proration := "none" // a monthly plan bills the quantity at its next renewal
	if c.Plan == billing.Annual {
		proration = "create_prorations" // the rest of the year, invoiced monthly
	}
	p := &stripe.SubscriptionItemUpdateParams{Price: stripe.String(price), Quantity: stripe.Int64(int64(c.Billable)),
		ProrationBehavior: stripe.String(proration)}
	p.AddMetadata(MetaPeriod, r.rep.Period)
	p.AddMetadata(MetaUsers, strconv.Itoa(c.Users))
	p.IdempotencyKey = r.idem("quantity", c.TenantID, r.rep.Period, strconv.Itoa(c.Billable), price)
	if _, err := r.sc.V1SubscriptionItems.Update(ctx, link.Item, p); err != nil {
		return fmt.Errorf("set the quantity of %s: %w", link.Item, err)
	}
	if err := r.o.Store.SaveStripePeriod(ctx, store.StripePeriod{TenantID: c.TenantID, Period: r.rep.Period, Quantity: c.Billable,
		Price: price, IdempotencyKey: *p.IdempotencyKey}); err != nil {
		return err
	}
	r.emit(ctx, c, events.StripeQuantitySet, r.rep.Period, events.F("subscription", link.Subscription), events.F("item", link.Item),
		events.F("price", price), events.F("period", r.rep.Period), events.FInt("quantity", int64(c.Billable)),
		events.FInt("users", int64(c.Users)), events.F("unit_price", c.UnitPrice), events.F("currency", string(r.prices.Currency)))
	return nil
}

// fail reports a customer that could not be brought into Stripe.
func (r *run) fail(ctx context.Context, c *billing.CustomerUsage, err error) {
	msg := Redact(err.Error(), r.o.Key)
	fields := []events.Field{events.F("period", r.rep.Period), events.F("error", msg)}
	var se *stripe.Error
	if errors.As(err, &se) {
		if se.Code != "" {
			fields = append(fields, events.F("code", string(se.Code)))
		}
		if se.HTTPStatusCode != 0 {
			fields = append(fields, events.FInt("status", int64(se.HTTPStatusCode)))
		}
		if se.RequestID != "" {
			fields = append(fields, events.F("request_id", se.RequestID))
		}
	}
	fmt.Fprintf(r.o.Out, "%s: FAILED: %s\n", c.Customer, msg)
	r.emit(ctx, c, events.StripeFailed, msg, fields...)
}

var keyRE = regexp.MustCompile(`\b[srp]k_(live|test)_[A-Za-z0-9*_]*`)

// Redact removes Stripe keys from text: the key itself and anything shaped
// like one (Stripe's own errors quote a masked key).
func Redact(s, key string) string {
	if key != "" {
		s = strings.ReplaceAll(s, key, "[redacted key]")
	}
	return keyRE.ReplaceAllString(s, "[redacted key]")
}
