package catalog

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// Repository paths of the generator's inputs and output, relative to this package.
var (
	docsPath     = filepath.Join("..", "schema", "docs", "errors-400.txt")
	curationPath = "curation.yaml"
	catalogPath  = filepath.Join("..", "schema", "catalog.json")
)

func parseRealDocs(t *testing.T) []DocEntry {
	t.Helper()
	f, err := os.Open(docsPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	docs, err := ParseDocs(f)
	if err != nil {
		t.Fatalf("ParseDocs(%s): %v", docsPath, err)
	}
	return docs
}

func TestParseDocsRealPage(t *testing.T) {
	docs := parseRealDocs(t)
	if len(docs) != 127 {
		t.Fatalf("parsed %d entries, want 127", len(docs))
	}
	byType := map[string]DocEntry{}
	for _, d := range docs {
		byType[d.ErrorType] = d
		if d.StatusCode != 400 || d.StatusText != "Bad request" {
			t.Errorf("%s: status %d %q, want 400 \"Bad request\"", d.ErrorType, d.StatusCode, d.StatusText)
		}
		if want := "https://stytch.com/docs/b2b/api/errors/400#" + d.ErrorType; d.ErrorURL != want {
			t.Errorf("%s: error_url %q, want %q", d.ErrorType, d.ErrorURL, want)
		}
	}
	if docs[0].ErrorType != "active_totp_exists" || docs[126].ErrorType != "invalid_phpass_hash_format" {
		t.Errorf("first/last = %s/%s", docs[0].ErrorType, docs[126].ErrorType)
	}

	tests := []struct {
		errorType       string
		description     string
		errorMessage    string
		commonCauses    []string
		troubleshooting []string
	}{
		{
			errorType:    "active_totp_exists",
			description:  "Cannot create a new TOTP for the specified user since the user already has an active TOTP. Users may only have one active TOTP at a time.",
			errorMessage: "Cannot create a new TOTP for the specified user since the user already has an active TOTP. Users may only have one active TOTP at a time.",
		},
		{
			// Description and example message differ: both kept verbatim.
			errorType:    "billing_not_verified",
			description:  "You cannot use this endpoint in the live environment until credit card details are added to your account, but you can try the endpoint in the test environment. Once your billing information is verified, this endpoint can be used in live. Your first 5,000 monthly active users are free every month, but collecting this information helps us prevent abuse of the platform. Please go to billing settings to provide billing information.",
			errorMessage: "You cannot use this endpoint in the Live environment until credit card details are added to your account, but you can try the endpoint in the Test environment. Once your billing information is verified, this endpoint can be used in Live. Your first 5,000 monthly active users are free every month, but collecting this information helps us prevent abuse of the platform. Please go to https://stytch.com/settings/billing to provide billing information.",
		},
		{
			// No description at all: the page opens with "Common causes".
			errorType:       "breached_password",
			description:     "",
			errorMessage:    "password appears in a list of breached passwords.",
			commonCauses:    []string{"The password was previously leaked, and the password now appears in the HaveIBeenPwned dataset."},
			troubleshooting: []string{"Use the password strength check endpoint endpoint to get actionable feedback on improving the strength of the password string. This feedback can be passed on to the end user via your UI."},
		},
		{
			errorType:    "invalid_authorization_header",
			description:  "The authorization header provided with the request is invalid.",
			errorMessage: "The authorization header provided with the request is invalid.",
			commonCauses: []string{
				"HTTP request is missing an Authorization header",
				"The Authorization header in the HTTP request is not formatted properly",
				"The Authorization header in the HTTP request has the incorrect credentials",
			},
			troubleshooting: []string{
				"Check the Authorization header in the HTTP request for proper formatting.",
				"Always use the Basic Auth type in the header.",
				"Check the project credentials you entered match your API keys in the Dashboard.",
			},
		},
		{
			errorType:    "invalid_phone_number",
			description:  "The phone number is invalid, i.e. not properly formatted, or missing.",
			errorMessage: "Phone number format is invalid. Ensure the phone number is in the E.164 format.",
			commonCauses: []string{
				"If you’re accepting the raw input from a user, they may have included an invalid character, i.e. not a digit.",
				"If the phone number is missing from the call, you may not be passing the input from the user to your backend.",
			},
			troubleshooting: []string{
				"If you’re accepting the raw input form a user, make sure you’re sanitizing the input and formatting it properly. Many libraries can help with this, like libphonenumber-js.",
				"Check that the phone number is properly formatted with the E. 164 format, e.g. “+14155551234”",
				"Check that the phone number only includes allowed characters, i.e. dashes “555-1234” and parentheses “(415)” are not included.",
			},
		},
		{
			// Last entry: the page is cut off inside the boilerplate after it.
			errorType:    "invalid_phpass_hash_format",
			description:  "The phpass hash has an incorrect format as it needs to be exactly 34 characters.",
			errorMessage: "The phpass hash has an incorrect format as it needs to be exactly 34 characters.",
		},
	}
	for _, tt := range tests {
		t.Run(tt.errorType, func(t *testing.T) {
			d, ok := byType[tt.errorType]
			if !ok {
				t.Fatalf("%s not parsed", tt.errorType)
			}
			if d.Description != tt.description {
				t.Errorf("description\n got %q\nwant %q", d.Description, tt.description)
			}
			if d.ErrorMessage != tt.errorMessage {
				t.Errorf("error_message\n got %q\nwant %q", d.ErrorMessage, tt.errorMessage)
			}
			if !slices.Equal(d.CommonCauses, tt.commonCauses) {
				t.Errorf("common causes\n got %q\nwant %q", d.CommonCauses, tt.commonCauses)
			}
			if !slices.Equal(d.Troubleshooting, tt.troubleshooting) {
				t.Errorf("troubleshooting\n got %q\nwant %q", d.Troubleshooting, tt.troubleshooting)
			}
		})
	}
}

func TestParseDocsErrors(t *testing.T) {
	const body = `{
  "status_code": 400,
  "error_type": "foo_bar",
  "error_message": "m",
  "error_url": "u"
}`
	tests := []struct {
		name, page, wantErr string
	}{
		{"empty page", "400 errors\n", "no error entries"},
		{"title mismatch", "foo_baz\n\n400Bad request\n\nd\n\nError\n\n" + body + "\n", `entry "foo_baz": example body error_type "foo_bar"`},
		{"status mismatch", "foo_bar\n\n404Not found\n\nd\n\nError\n\n" + body + "\n", "status_code 400 differs from the status line 404"},
		{"no example", "foo_bar\n\n400Bad request\n\nd\n", `no "Error" example`},
		{"unclosed body", "foo_bar\n\n400Bad request\n\nd\n\nError\n\n{\n  \"x\": 1\n", "not closed"},
		{"stray bullet", "foo_bar\n\n400Bad request\n\n  • x\n\nError\n\n" + body + "\n", "bullet outside"},
		{"duplicate", "foo_bar\n\n400Bad request\n\nError\n\n" + body + "\nfoo_bar\n\n400Bad request\n\nError\n\n" + body + "\n", "already defined at line 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseDocs(strings.NewReader(tt.page))
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestParseDocsWrappedBulletAndParagraphs(t *testing.T) {
	page := "x_y\n\n500Internal error\n\nfirst para\n\nsecond para\n\nCommon causes\n\n  • one\n    continued\n\n  • two\n\nError\n\n" +
		"{\n  \"status_code\": 500,\n  \"error_type\": \"x_y\",\n  \"error_message\": \"m\",\n  \"error_url\": \"u\"\n}\nHow to get help\n"
	docs, err := ParseDocs(strings.NewReader(page))
	if err != nil {
		t.Fatal(err)
	}
	d := docs[0]
	if d.StatusCode != 500 || d.Description != "first para\n\nsecond para" || !slices.Equal(d.CommonCauses, []string{"one continued", "two"}) || d.Troubleshooting != nil {
		t.Fatalf("got %+v", d)
	}
}
