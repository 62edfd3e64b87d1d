package event

import (
	"testing"
	"time"

	"github.com/faultline/faultline/catalog"
)

// testCatalog is a small in-test catalog with the example bodies used below.
func testCatalog(t testing.TB) *catalog.Catalog {
	t.Helper()
	cat, err := catalog.New([]catalog.Entry{
		{
			ErrorType:    "billing_not_verified",
			StatusCode:   400,
			ErrorMessage: "Billing information must be verified before using live environment.",
			ErrorURL:     "https://stytch.com/docs/b2b/api/errors/400#billing_not_verified",
			Category:     "billing",
			Remediation:  "Verify billing.",
			Actor:        catalog.ActorAdmin,
			Source:       catalog.SourceDocs,
		},
		{
			ErrorType:    "invalid_email",
			StatusCode:   400,
			ErrorMessage: "Email format is invalid.",
			ErrorURL:     "https://stytch.com/docs/b2b/api/errors/400#invalid_email",
			Category:     "email_magic_links",
			Remediation:  "Fix the email.",
			Actor:        catalog.ActorEndUser,
			Source:       catalog.SourceDocs,
		},
	}, nil)
	if err != nil {
		t.Fatalf("catalog.New: %v", err)
	}
	return cat
}

var kafkaTime = time.Date(2025, 3, 14, 15, 9, 26, 0, time.UTC)

const bareBody = `{"status_code":400,"request_id":"request-id-live-b05c992f-ebdc-489d-a754-c7e70ba13141","error_type":"billing_not_verified","error_message":"Billing information must be verified before using live environment.","error_url":"https://stytch.com/docs/b2b/api/errors/400#billing_not_verified"}`

const envelopeBody = `{"timestamp":"2025-03-14T15:09:25.123456Z","method":"POST","path":"/v1/b2b/organizations","project_id":"project-live-1234","organization_id":"organization-live-5678","member_id":"member-live-9abc","client":"stytch-go/16.2.0","latency_ms":12.5,"region":"us-east-1","status_code":400,"request_id":"request-id-live-b05c992f-ebdc-489d-a754-c7e70ba13141","error_type":"billing_not_verified","error_message":"Billing information must be verified before using live environment.","error_url":"https://stytch.com/docs/b2b/api/errors/400#billing_not_verified","trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","retry":2,"tags":{"team":"auth","canary":false}}`
