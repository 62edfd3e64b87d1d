package catalog

import "testing"

func TestGuessCategory(t *testing.T) {
	known := loadBase(t).Entries()
	cases := []struct{ errorType, category string }{
		{"invalid_webauthn_attestation", "webauthn"},
		{"captcha_provider_unreachable", "captcha"},
		{"saml_assertion_too_old", "sso"},
		{"invalid_phone_number_region", "phone_sms"},
		{"billing_card_declined", "billing"},
		{"zzz_qqq", "request_validation"}, // nothing shared: the generic category
		{"invalid_missing_not_found", "request_validation"},
	}
	for _, c := range cases {
		g := GuessCategory(c.errorType, known)
		if g.Category != c.category || g.Actor == "" || g.Reason == "" {
			t.Errorf("%s: guessed %+v, want category %s", c.errorType, g, c.category)
		}
	}
	if g := GuessCategory("billing_card_declined", known); g.Actor != ActorAdmin {
		t.Errorf("billing actor %q, want the category's usual %s", g.Actor, ActorAdmin)
	}
}
