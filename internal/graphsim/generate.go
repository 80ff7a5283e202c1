package graphsim

import (
	"bytes"
	"fmt"
	"hash/fnv"
	"image"
	"image/color"
	"image/jpeg"
	"math/rand/v2"
	"strings"
	"time"
)

// GenerateOptions configures Generate.
type GenerateOptions struct {
	Users  int   `json:"users"`
	Groups int   `json:"groups"`
	Seed   int64 `json:"seed"`
	// Domain is the tenant's verified domain; empty derives one from the seed.
	Domain string `json:"domain,omitempty"`
	// Name is the organisation's name; empty derives one from the seed.
	Name string `json:"name,omitempty"`
	// Resources adds a shared mailbox, a room and an equipment mailbox
	// (disabled accounts with those mailbox purposes) and a distribution
	// list, after everything else (the rest of the tenant is as without).
	Resources bool `json:"resources,omitempty"`
	// Photos gives every third user a small generated photo (GenPhoto);
	// the other properties are the same with or without it.
	Photos bool `json:"photos,omitempty"`
}

type namePart struct{ text, ascii string }

// culture is a naming and addressing locale for generated users.
type culture struct {
	given, surname []namePart
	country, usage string
	lang           string
	cities         []string
	phonePrefix    string
	streets        []string
	surnameFirst   bool // display "Surname Given" (East Asian order)
	postal         func(r *rand.Rand) string
	weight         int
}

func np(pairs ...string) []namePart {
	out := make([]namePart, 0, len(pairs)/2)
	for i := 0; i+1 < len(pairs); i += 2 {
		out = append(out, namePart{pairs[i], pairs[i+1]})
	}
	return out
}

func digits(r *rand.Rand, n int) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		b.WriteByte(byte('0' + r.IntN(10)))
	}
	return b.String()
}

var cultures = []culture{
	{given: np("Zoë", "zoe", "Chloé", "chloe", "François", "francois", "Amélie", "amelie", "Hélène", "helene", "Noël", "noel"),
		surname: np("Lefèvre", "lefevre", "Dubois", "dubois", "Faÿ", "fay", "Bérenger", "berenger", "Moreau", "moreau"),
		country: "France", usage: "FR", lang: "fr-FR", cities: []string{"Paris", "Lyon", "Montréal"}, phonePrefix: "+33 1 ",
		streets: []string{"%d rue de la Paix", "%d avenue des Champs-Élysées", "%d boulevard Saint-Germain"}, postal: func(r *rand.Rand) string { return "75" + digits(r, 3) }, weight: 3},
	{given: np("José", "jose", "María", "maria", "Ángel", "angel", "Lucía", "lucia", "Iñaki", "inaki"),
		surname: np("García", "garcia", "Núñez", "nunez", "Peña", "pena", "Martínez", "martinez", "Ibáñez", "ibanez"),
		country: "Spain", usage: "ES", lang: "es-ES", cities: []string{"Madrid", "Sevilla", "A Coruña"}, phonePrefix: "+34 91 ",
		streets: []string{"Calle de Alcalá %d", "Paseo de la Castellana %d", "Calle Mayor %d"}, postal: func(r *rand.Rand) string { return "28" + digits(r, 3) }, weight: 3},
	{given: np("Łukasz", "lukasz", "Małgorzata", "malgorzata", "Paweł", "pawel", "Zofia", "zofia", "Wojciech", "wojciech"),
		surname: np("Wiśniewski", "wisniewski", "Kowalczyk", "kowalczyk", "Wójcik", "wojcik", "Żak", "zak", "Dąbrowska", "dabrowska"),
		country: "Poland", usage: "PL", lang: "pl-PL", cities: []string{"Kraków", "Łódź", "Gdańsk"}, phonePrefix: "+48 12 ",
		streets: []string{"ul. Długa %d", "ul. Świętokrzyska %d", "al. Jerozolimskie %d"}, postal: func(r *rand.Rand) string { return digits(r, 2) + "-" + digits(r, 3) }, weight: 2},
	{given: np("Jürgen", "juergen", "Björn", "bjoern", "Søren", "soeren", "Åsa", "asa", "Günter", "guenter", "Anneliese", "anneliese"),
		surname: np("Müller", "mueller", "Schröder", "schroeder", "Ødegård", "odegard", "Straße", "strasse", "Öztürk", "ozturk"),
		country: "Germany", usage: "DE", lang: "de-DE", cities: []string{"München", "Köln", "Düsseldorf"}, phonePrefix: "+49 89 ",
		streets: []string{"Königstraße %d", "Schloßallee %d", "Hauptstraße %d"}, postal: func(r *rand.Rand) string { return "8" + digits(r, 4) }, weight: 3},
	{given: np("太郎", "taro", "花子", "hanako", "健", "ken", "さくら", "sakura"),
		surname: np("山田", "yamada", "佐藤", "sato", "鈴木", "suzuki", "高橋", "takahashi"),
		country: "Japan", usage: "JP", lang: "ja-JP", cities: []string{"東京", "大阪", "京都"}, phonePrefix: "+81 3 ", surnameFirst: true,
		streets: []string{"千代田区丸の内%d-1", "港区六本木%d-3", "中央区銀座%d-5"}, postal: func(r *rand.Rand) string { return digits(r, 3) + "-" + digits(r, 4) }, weight: 2},
	{given: np("Αλέξανδρος", "alexandros", "Ελένη", "eleni", "Ωmega", "omega", "Δήμητρα", "dimitra"),
		surname: np("Παπαδόπουλος", "papadopoulos", "Οικονόμου", "oikonomou", "Γεωργίου", "georgiou"),
		country: "Greece", usage: "GR", lang: "el-GR", cities: []string{"Αθήνα", "Θεσσαλονίκη"}, phonePrefix: "+30 21 ",
		streets: []string{"Οδός Ερμού %d", "Λεωφόρος Συγγρού %d"}, postal: func(r *rand.Rand) string { return digits(r, 3) + " " + digits(r, 2) }, weight: 1},
	{given: np("محمد", "mohammed", "فاطمة", "fatima", "عمر", "omar", "ليلى", "layla"),
		surname: np("العلي", "alali", "الحسن", "alhassan", "منصور", "mansour"),
		country: "United Arab Emirates", usage: "AE", lang: "ar-AE", cities: []string{"دبي", "أبو ظبي"}, phonePrefix: "+971 4 ",
		streets: []string{"شارع الشيخ زايد %d", "شارع الخليج %d"}, postal: func(r *rand.Rand) string { return digits(r, 5) }, weight: 1},
	{given: np("Дмитрий", "dmitry", "Анна", "anna", "Сергей", "sergey", "Ольга", "olga"),
		surname: np("Иванов", "ivanov", "Смирнова", "smirnova", "Кузнецов", "kuznetsov"),
		country: "Kazakhstan", usage: "KZ", lang: "ru-RU", cities: []string{"Алматы", "Астана"}, phonePrefix: "+7 727 ",
		streets: []string{"ул. Абая %d", "пр. Достык %d"}, postal: func(r *rand.Rand) string { return "050" + digits(r, 3) }, weight: 1},
	{given: np("伟", "wei", "芳", "fang", "秀英", "xiuying", "磊", "lei"),
		surname: np("王", "wang", "李", "li", "张", "zhang", "刘", "liu"),
		country: "China", usage: "CN", lang: "zh-CN", cities: []string{"上海", "北京", "深圳"}, phonePrefix: "+86 21 ", surnameFirst: true,
		streets: []string{"南京西路%d号", "长安街%d号"}, postal: func(r *rand.Rand) string { return "200" + digits(r, 3) }, weight: 1},
	{given: np("प्रिया", "priya", "अर्जुन", "arjun", "Ananya", "ananya", "Rohan", "rohan"),
		surname: np("शर्मा", "sharma", "Patel", "patel", "Iyer", "iyer"),
		country: "India", usage: "IN", lang: "hi-IN", cities: []string{"Bengaluru", "मुंबई", "Pune"}, phonePrefix: "+91 80 ",
		streets: []string{"%d MG Road", "%d Residency Road"}, postal: func(r *rand.Rand) string { return "560" + digits(r, 3) }, weight: 1},
	{given: np("Siobhán", "siobhan", "Ólafur", "olafur", "Seán", "sean", "Niamh", "niamh", "Dvořák", "dvorak"),
		surname: np("O'Brien", "obrien", "Ní Bhriain", "nibhriain", "Guðmundsson", "gudmundsson", "Nguyễn", "nguyen"),
		country: "Ireland", usage: "IE", lang: "en-IE", cities: []string{"Dublin", "Cork", "Reykjavík"}, phonePrefix: "+353 1 ",
		streets: []string{"%d O'Connell Street", "%d Grafton Street"}, postal: func(r *rand.Rand) string { return "D0" + digits(r, 1) + " " + digits(r, 4) }, weight: 2},
	{given: np("James", "james", "Mary", "mary", "Robert", "robert", "Patricia", "patricia", "Michael", "michael", "Jennifer", "jennifer", "David", "david", "Linda", "linda", "Mei-Ling", "meiling", "D'Andre", "dandre"),
		surname: np("Smith", "smith", "Johnson", "johnson", "Williams", "williams", "Brown", "brown", "Jones", "jones", "Miller", "miller", "Davis", "davis", "Wilson-Taylor", "wilsontaylor", "Anderson", "anderson"),
		country: "United States", usage: "US", lang: "en-US", cities: []string{"Seattle", "Redmond", "New York", "Austin"}, phonePrefix: "+1 425 555 ",
		streets: []string{"%d Contoso Way", "%d Main Street", "%d Pine Avenue, Suite 200"}, postal: func(r *rand.Rand) string { return "98" + digits(r, 3) }, weight: 8},
}

var (
	departments = []string{"Sales", "Marketing", "Research & Development", "Finance", "Human Resources", "IT", "Legal", "Operations", "Customer Success", "Einkauf", "Производство"}
	titles      = []string{"Engineer", "Senior Engineer", "Sales Manager", "Account Executive", "Marketing Specialist", "Accountant", "HR Business Partner", "Director", "Vice President", "Chief Executive Officer", "Support Technician", "Jurist", "Ingénieure", "主任"}
	companies   = []string{"", "", "", "Subsidiary GmbH", "Filiale S.A.", "子会社株式会社"}
	orgNames    = []string{"Contoso", "Fabrikam", "Northwind Traders", "Adatum", "Tailspin Toys", "Woodgrove Bank", "Litware", "Proseware"}
	partners    = []string{"partner.example", "supplier.example", "agency.example", "lawfirm.example"}
)

// Generate builds a realistic tenant, deterministic for a seed (except the
// app's certificate and key, which are always fresh): users with varied
// names (accents and non-Latin scripts), phones, titles, departments,
// companies, offices and street addresses; a few disabled users, guests
// (#EXT# UPN, userType Guest), users without a mailbox and outside the
// app's scope; nested groups; org contacts; with Resources a shared
// mailbox, a room, an equipment mailbox and a distribution list; and an
// app holding AllRoles
// whose credential is returned (with TenantID set).
func Generate(o GenerateOptions) (Tenant, AppCredential, error) {
	if o.Users < 0 || o.Groups < 0 {
		return Tenant{}, AppCredential{}, fmt.Errorf("graphsim: generate: negative users or groups")
	}
	gen := &generator{r: rand.New(rand.NewPCG(uint64(o.Seed), 0x243f6a8885a308d3)), usedUPN: map[string]int{}}
	base := orgNames[gen.r.IntN(len(orgNames))]
	gen.name = o.Name
	if gen.name == "" {
		gen.name = base
	}
	gen.domain = o.Domain
	if gen.domain == "" {
		gen.domain = fmt.Sprintf("%s%d.onmicrosoft.com", strings.ToLower(strings.Fields(base)[0]), o.Seed)
	}
	t := Tenant{ID: gen.guid(), Name: gen.name, Domain: gen.domain}
	app, cred, err := NewApp("galmirror", AllRoles...)
	if err != nil {
		return Tenant{}, AppCredential{}, err
	}
	app.ClientID = gen.guid()
	cred.ClientID, cred.TenantID = app.ClientID, t.ID
	t.Apps = []App{app}

	for _, c := range cultures {
		gen.totalWeight += c.weight
	}
	created := time.Date(2019, 3, 1, 8, 0, 0, 0, time.UTC)
	for i := 0; i < o.Users; i++ {
		t.Users = append(t.Users, gen.user(i, created.Add(time.Duration(i)*37*time.Hour)))
	}
	for i := 0; i < o.Users/20; i++ {
		t.OrgContacts = append(t.OrgContacts, gen.orgContact())
	}
	for i := 0; i < o.Groups; i++ {
		t.Groups = append(t.Groups, gen.group(&t, i, o.Groups))
	}
	if o.Photos {
		for i := 0; i < len(t.Users); i += 3 {
			t.Users[i].Photo = &UserPhoto{ContentType: "image/jpeg", Data: GenPhoto(t.Users[i].ID, 0)}
		}
	}
	if o.Resources {
		gen.resources(&t)
	}
	return t, cred, nil
}

// resources adds GenerateOptions.Resources' mailboxes and group.
func (gen *generator) resources(t *Tenant) {
	for _, m := range []struct{ local, name, purpose, office string }{
		{"helpdesk", "Help Desk", "shared", ""},
		{"boardroom", "Boardroom (12 seats)", "room", "HQ 4/401"},
		{"projector", "Projector 1", "equipment", "HQ 4/401"},
	} {
		addr := m.local + "@" + gen.domain
		t.Users = append(t.Users, User{ID: gen.guid(), UserPrincipalName: addr, Mail: addr, MailNickname: m.local,
			DisplayName: m.name, OfficeLocation: m.office, AccountEnabled: ptrBool(false), MailboxPurpose: m.purpose,
			ProxyAddresses: []string{"SMTP:" + addr}, CreatedDateTime: "2020-01-06T09:00:00Z"})
	}
	t.Groups = append(t.Groups, Group{ID: gen.guid(), DisplayName: "Everyone at " + gen.name, Mail: "everyone@" + gen.domain,
		MailNickname: "everyone", MailEnabled: true, Description: "Distribution list"})
}

// GenPhoto draws a 96×96 JPEG avatar (a disc on a background, colours
// from key and version: a new version is a new photo), about 2 KB.
func GenPhoto(key string, version int) []byte {
	h := fnv.New32a()
	fmt.Fprintf(h, "%s/%d", key, version)
	v := h.Sum32()
	bg := color.RGBA{uint8(v), uint8(v >> 8), uint8(v >> 16), 255}
	fg := color.RGBA{255 - bg.R/2, 255 - bg.G/2, 255 - bg.B/2, 255}
	img := image.NewRGBA(image.Rect(0, 0, 96, 96))
	for y := range 96 {
		for x := range 96 {
			c := bg
			if dx, dy := x-48, y-40; dx*dx+dy*dy < 22*22 || (y > 66 && (x-48)*(x-48) < (y-60)*(y-60)*2) {
				c = fg
			}
			img.SetRGBA(x, y, c)
		}
	}
	var b bytes.Buffer
	_ = jpeg.Encode(&b, img, &jpeg.Options{Quality: 85}) // writes to memory: cannot fail
	return b.Bytes()
}

// generator is Generate's state: every draw comes from r, in an order that
// makes a tenant deterministic for a seed.
type generator struct {
	r            *rand.Rand
	name, domain string         // the organisation's
	totalWeight  int            // of cultures
	usedUPN      map[string]int // UPN local parts (and guest UPNs) handed out
}

func (gen *generator) guid() string {
	var b [16]byte
	for i := range b {
		b[i] = byte(gen.r.UintN(256))
	}
	return formatGUID(b)
}

// pick draws a culture by weight.
func (gen *generator) pick() *culture {
	n := gen.r.IntN(gen.totalWeight)
	for i := range cultures {
		if n < cultures[i].weight {
			return &cultures[i]
		}
		n -= cultures[i].weight
	}
	return &cultures[0]
}

// user draws the i-th user, created at created.
func (gen *generator) user(i int, created time.Time) User {
	r := gen.r
	c := gen.pick()
	gn := c.given[r.IntN(len(c.given))]
	sn := c.surname[r.IntN(len(c.surname))]
	local := gn.ascii + "." + sn.ascii
	gen.usedUPN[local]++
	if k := gen.usedUPN[local]; k > 1 {
		local = fmt.Sprintf("%s%d", local, k)
	}
	display := gn.text + " " + sn.text
	if c.surnameFirst {
		display = sn.text + " " + gn.text
	}
	city := c.cities[r.IntN(len(c.cities))]
	u := User{
		ID: gen.guid(), GivenName: gn.text, Surname: sn.text, DisplayName: display,
		UserPrincipalName: local + "@" + gen.domain, Mail: local + "@" + gen.domain, MailNickname: local,
		JobTitle: titles[r.IntN(len(titles))], Department: departments[r.IntN(len(departments))],
		CompanyName:    firstNonEmpty(companies[r.IntN(len(companies))], gen.name),
		OfficeLocation: fmt.Sprintf("%s %d/%d", city, 1+r.IntN(9), 100+r.IntN(900)),
		BusinessPhones: []string{c.phonePrefix + digits(r, 4)},
		StreetAddress:  fmt.Sprintf(c.streets[r.IntN(len(c.streets))], 1+r.IntN(250)),
		City:           city, PostalCode: c.postal(r), Country: c.country, UsageLocation: c.usage, PreferredLanguage: c.lang,
		EmployeeID:      fmt.Sprintf("E%05d", i+1),
		CreatedDateTime: created.Format(time.RFC3339),
	}
	u.ProxyAddresses = []string{"SMTP:" + u.Mail}
	if r.IntN(3) == 0 {
		u.MobilePhone = c.phonePrefix + digits(r, 3) + " " + digits(r, 3)
	}
	if r.IntN(10) == 0 {
		u.FaxNumber = c.phonePrefix + digits(r, 4)
	}
	if r.IntN(12) == 0 { // sparse profiles exist in every tenant
		u.JobTitle, u.Department, u.BusinessPhones, u.OfficeLocation = "", "", nil, ""
	}
	switch x := r.IntN(100); {
	case x < 5:
		gen.makeGuest(&u, gn, sn)
	case x < 8:
		u.AccountEnabled = ptrBool(false)
	case x < 12:
		u.Mailbox = MailboxNone
	case x < 14:
		u.Mailbox = MailboxOutOfScope
	}
	return u
}

// makeGuest turns u (names gn, sn) into a guest from a partner's domain:
// an #EXT# UPN, userType Guest, no mailbox.
func (gen *generator) makeGuest(u *User, gn, sn namePart) {
	home := partners[gen.r.IntN(len(partners))]
	ext := strings.ReplaceAll(gn.ascii+"."+sn.ascii+"@"+home, "@", "_")
	u.UserPrincipalName = fmt.Sprintf("%s#EXT#@%s", ext, gen.domain)
	if gen.usedUPN[u.UserPrincipalName]++; gen.usedUPN[u.UserPrincipalName] > 1 {
		u.UserPrincipalName = fmt.Sprintf("%s%d#EXT#@%s", ext, gen.usedUPN[u.UserPrincipalName], gen.domain)
	}
	u.Mail = gn.ascii + "." + sn.ascii + "@" + home
	u.ProxyAddresses = []string{"SMTP:" + u.Mail}
	u.UserType, u.Mailbox = "Guest", MailboxNone
	u.EmployeeID, u.OfficeLocation, u.CompanyName = "", "", ""
}

// orgContact draws an org contact at a partner's domain.
func (gen *generator) orgContact() OrgContact {
	r := gen.r
	c := gen.pick()
	gn := c.given[r.IntN(len(c.given))]
	sn := c.surname[r.IntN(len(c.surname))]
	home := partners[r.IntN(len(partners))]
	return OrgContact{
		ID: gen.guid(), DisplayName: gn.text + " " + sn.text + " (" + home + ")", GivenName: gn.text, Surname: sn.text,
		Mail: gn.ascii + "." + sn.ascii + "@" + home, MailNickname: gn.ascii + sn.ascii, CompanyName: strings.Split(home, ".")[0],
		Phones:    []Phone{{Number: c.phonePrefix + digits(r, 4), Type: "business"}},
		Addresses: []OfficeAddress{{City: c.cities[0], CountryOrRegion: c.country}},
	}
}

// group draws the i-th of groups groups of tenant t (its users, org
// contacts and earlier groups made): the first has every employee, the
// others are departments' with random members.
func (gen *generator) group(t *Tenant, i, groups int) Group {
	r := gen.r
	g := Group{ID: gen.guid(), SecurityEnabled: true}
	if i == 0 {
		g.DisplayName, g.Description = "All Employees", "Everyone in "+gen.name
		for _, u := range t.Users {
			if u.UserType != "Guest" {
				g.Members = append(g.Members, u.ID)
			}
		}
		return g
	}
	d := departments[(i-1)%len(departments)]
	g.DisplayName = fmt.Sprintf("%s %d", d, (i-1)/len(departments)+1)
	g.Description = "Members of " + d
	g.MailEnabled = i%2 == 0
	if g.MailEnabled {
		g.Mail = strings.ToLower(strings.NewReplacer(" ", "", "&", "and").Replace(g.DisplayName)) + "@" + gen.domain
		g.MailNickname = strings.Split(g.Mail, "@")[0]
		g.GroupTypes = []string{"Unified"}
	}
	for _, u := range t.Users {
		if r.IntN(max(1, groups)) == 0 {
			g.Members = append(g.Members, u.ID)
		}
	}
	if len(t.OrgContacts) > 0 && r.IntN(3) == 0 {
		g.Members = append(g.Members, t.OrgContacts[r.IntN(len(t.OrgContacts))].ID)
	}
	// Nest: every third group contains an earlier department group.
	if i >= 3 && i%3 == 0 {
		g.Members = append(g.Members, t.Groups[1+r.IntN(i-1)].ID)
	}
	return g
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func ptrBool(b bool) *bool { return &b }
