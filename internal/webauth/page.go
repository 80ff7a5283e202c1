package webauth

import (
	"html/template"
	"net/http"
)

var pageTmpl = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>{{.Title}} · galmirror console</title>
<style>body{font-family:system-ui,sans-serif;max-width:36rem;margin:4rem auto;padding:0 1rem;line-height:1.45}
h1{font-size:1.4rem}a.button{display:inline-block;padding:.5rem 1rem;border:1px solid #245;border-radius:4px;text-decoration:none}</style>
</head><body><main>
<h1 id="auth-title">{{.Title}}</h1>
<p id="auth-detail">{{.Detail}}</p>
{{if .Link}}<p><a class="button" href="{{.Link}}" id="auth-signin">Sign in</a></p>{{end}}
</main></body></html>`))

// page writes the authenticators' own small pages (errors, signed out).
func page(w http.ResponseWriter, status int, title, detail, link string) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
	w.WriteHeader(status)
	_ = pageTmpl.Execute(w, map[string]string{"Title": title, "Detail": detail, "Link": link})
}
