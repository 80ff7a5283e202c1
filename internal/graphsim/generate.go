package graphsim

import (
	"fmt"
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
// app's scope; nested groups; org contacts; and an app holding AllRoles
// whose credential is returned (with TenantID set).
func Generate(o GenerateOptions) (Tenant, AppCredential, error) {
	if o.Users < 0 || o.Groups < 0 {
		return Tenant{}, AppCredential{}, fmt.Errorf("graphsim: generate: negative users or groups")
	}
	r := rand.New(rand.NewPCG(uint64(o.Seed), 0x243f6a8885a308d3))
	guid := func() string {
		var b [16]byte
		for i := range b {
			b[i] = byte(r.UintN(256))
		}
		return formatGUID(b)
	}
	base := orgNames[r.IntN(len(orgNames))]
	name := o.Name
	if name == "" {
		name = base
	}
	domain := o.Domain
	if domain == "" {
		domain = fmt.Sprintf("%s%d.onmicrosoft.com", strings.ToLower(strings.Fields(base)[0]), o.Seed)
	}
	t := Tenant{ID: guid(), Name: name, Domain: domain}
	app, cred, err := NewApp("galmirror", AllRoles...)
	if err != nil {
		return Tenant{}, AppCredential{}, err
	}
	app.ClientID = guid()
	cred.ClientID, cred.TenantID = app.ClientID, t.ID
	t.Apps = []App{app}

	total := 0
	for _, c := range cultures {
		total += c.weight
	}
	pick := func() *culture {
		n := r.IntN(total)
		for i := range cultures {
			if n < cultures[i].weight {
				return &cultures[i]
			}
			n -= cultures[i].weight
		}
		return &cultures[0]
	}
	usedUPN := map[string]int{}
	created := time.Date(2019, 3, 1, 8, 0, 0, 0, time.UTC)
	for i := 0; i < o.Users; i++ {
		c := pick()
		gn := c.given[r.IntN(len(c.given))]
		sn := c.surname[r.IntN(len(c.surname))]
		local := gn.ascii + "." + sn.ascii
		usedUPN[local]++
		if k := usedUPN[local]; k > 1 {
			local = fmt.Sprintf("%s%d", local, k)
		}
		display := gn.text + " " + sn.text
		if c.surnameFirst {
			display = sn.text + " " + gn.text
		}
		city := c.cities[r.IntN(len(c.cities))]
		u := User{
			ID: guid(), GivenName: gn.text, Surname: sn.text, DisplayName: display,
			UserPrincipalName: local + "@" + domain, Mail: local + "@" + domain, MailNickname: local,
			JobTitle: titles[r.IntN(len(titles))], Department: departments[r.IntN(len(departments))],
			CompanyName:    firstNonEmpty(companies[r.IntN(len(companies))], name),
			OfficeLocation: fmt.Sprintf("%s %d/%d", city, 1+r.IntN(9), 100+r.IntN(900)),
			BusinessPhones: []string{c.phonePrefix + digits(r, 4)},
			StreetAddress:  fmt.Sprintf(c.streets[r.IntN(len(c.streets))], 1+r.IntN(250)),
			City:           city, PostalCode: c.postal(r), Country: c.country, UsageLocation: c.usage, PreferredLanguage: c.lang,
			EmployeeID:      fmt.Sprintf("E%05d", i+1),
			CreatedDateTime: created.Add(time.Duration(i) * 37 * time.Hour).Format(time.RFC3339),
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
		case x < 5: // guest
			home := partners[r.IntN(len(partners))]
			ext := strings.ReplaceAll(gn.ascii+"."+sn.ascii+"@"+home, "@", "_")
			u.UserPrincipalName = fmt.Sprintf("%s#EXT#@%s", ext, domain)
			if usedUPN[u.UserPrincipalName]++; usedUPN[u.UserPrincipalName] > 1 {
				u.UserPrincipalName = fmt.Sprintf("%s%d#EXT#@%s", ext, usedUPN[u.UserPrincipalName], domain)
			}
			u.Mail = gn.ascii + "." + sn.ascii + "@" + home
			u.ProxyAddresses = []string{"SMTP:" + u.Mail}
			u.UserType, u.Mailbox = "Guest", MailboxNone
			u.EmployeeID, u.OfficeLocation, u.CompanyName = "", "", ""
		case x < 8:
			u.AccountEnabled = ptrBool(false)
		case x < 12:
			u.Mailbox = MailboxNone
		case x < 14:
			u.Mailbox = MailboxOutOfScope
		}
		t.Users = append(t.Users, u)
	}

	nOrg := o.Users / 20
	for i := 0; i < nOrg; i++ {
		c := pick()
		gn := c.given[r.IntN(len(c.given))]
		sn := c.surname[r.IntN(len(c.surname))]
		home := partners[r.IntN(len(partners))]
		t.OrgContacts = append(t.OrgContacts, OrgContact{
			ID: guid(), DisplayName: gn.text + " " + sn.text + " (" + home + ")", GivenName: gn.text, Surname: sn.text,
			Mail: gn.ascii + "." + sn.ascii + "@" + home, MailNickname: gn.ascii + sn.ascii, CompanyName: strings.Split(home, ".")[0],
			Phones:    []Phone{{Number: c.phonePrefix + digits(r, 4), Type: "business"}},
			Addresses: []OfficeAddress{{City: c.cities[0], CountryOrRegion: c.country}},
		})
	}

	for i := 0; i < o.Groups; i++ {
		g := Group{ID: guid(), SecurityEnabled: true}
		switch {
		case i == 0:
			g.DisplayName, g.Description = "All Employees", "Everyone in "+name
			for _, u := range t.Users {
				if u.UserType != "Guest" {
					g.Members = append(g.Members, u.ID)
				}
			}
		default:
			d := departments[(i-1)%len(departments)]
			g.DisplayName = fmt.Sprintf("%s %d", d, (i-1)/len(departments)+1)
			g.Description = "Members of " + d
			g.MailEnabled = i%2 == 0
			if g.MailEnabled {
				g.Mail = strings.ToLower(strings.NewReplacer(" ", "", "&", "and").Replace(g.DisplayName)) + "@" + domain
				g.MailNickname = strings.Split(g.Mail, "@")[0]
				g.GroupTypes = []string{"Unified"}
			}
			for _, u := range t.Users {
				if r.IntN(max(1, o.Groups)) == 0 {
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
		}
		t.Groups = append(t.Groups, g)
	}
	return t, cred, nil
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func ptrBool(b bool) *bool { return &b }
