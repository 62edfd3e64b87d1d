package catalog

// CategoryInfo documents one category of the taxonomy.
type CategoryInfo struct {
	Name        string `json:"name"`
	Description string `json:"description"`
}

// Categories returns the taxonomy every entry's category must belong to, in a
// fixed order (roughly: account, API access, identity providers, credentials,
// organization model, channels, configuration). It is a fresh slice on every
// call so no caller can change the taxonomy for another.
//
// Categories group errors by the part of the product an on-call engineer
// would look at, not by the error_type prefix: "invalid_client_secret" is an
// OIDC connection field (sso), "invalid_login_oauth_url" is a redirect URL
// (redirect_urls), "invalid_method_id" is a malformed identifier
// (request_validation).
func Categories() []CategoryInfo {
	return []CategoryInfo{
		{"billing", "The account has no verified billing details, so live-environment features are blocked."},
		{"api_access", "API credentials, the Authorization header, and calling an endpoint that is deprecated or not enabled for the project type."},
		{"request_validation", "Generic malformed requests: invalid arguments, malformed identifiers (IDs), IP addresses, locales."},
		{"sso", "Enterprise SSO: SAML and OIDC connections, their fields and certificates, and the responses identity providers send."},
		{"oauth", "Social/OAuth login: provider configuration, ID tokens, callback IDs, Microsoft tenant rules, expired OAuth flows."},
		{"password_hashes", "Migrating password hashes (argon2, scrypt, bcrypt, pbkdf2, md5, phpass, salts, hash types) into the platform."},
		{"passwords", "Password strength, breached passwords and password resets."},
		{"otp_totp", "One-time passcodes and TOTP authenticators: codes, method IDs, expirations, enrollment state."},
		{"webauthn", "WebAuthn/passkey registration: authenticator type, relying-party domain, duplicate credentials, user state."},
		{"rbac", "Role-based access control: roles, permissions, resources and actions."},
		{"organization_settings", "Organization fields and policies: name, slug, allowed auth methods, auth factor and MFA settings."},
		{"provisioning", "Who may join an organization: JIT provisioning by email or SSO connection, and invite email policy."},
		{"members", "Users and organization members: duplicates of users, emails and phone numbers, lookups, deleting their last factors."},
		{"m2m_clients", "Machine-to-machine clients: client IDs, secrets, scopes and status."},
		{"sessions_tokens", "Sessions and session tokens: custom claims, intermediate session tokens."},
		{"email_magic_links", "Sending email and magic links: email addresses, deliverability, sandbox addresses, link expiration."},
		{"email_templates", "Custom email templates: vanity IDs, HTML, plaintext and subject."},
		{"phone_sms", "Phone numbers and SMS: formatting (E.164), country codes, test and sandbox numbers."},
		{"redirect_urls", "Redirect URLs for login, signup, invites, discovery, password reset and OAuth/SSO: format and registration."},
		{"captcha", "CAPTCHA provider configuration: provider ID, provider type, score threshold."},
	}
}

// CategoryNames returns the category names of Categories, in the same order.
func CategoryNames() []string {
	cats := Categories()
	out := make([]string, len(cats))
	for i, c := range cats {
		out[i] = c.Name
	}
	return out
}

// categorySet is Categories as a set, for validation.
func categorySet() map[string]bool {
	cats := Categories()
	set := make(map[string]bool, len(cats))
	for _, c := range cats {
		set[c.Name] = true
	}
	return set
}
