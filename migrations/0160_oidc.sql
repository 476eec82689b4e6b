-- Accounts signed in through an OpenID Connect provider: the provider's issuer and
-- subject, which name the person for good (a username may change at the provider).
ALTER TABLE users ADD COLUMN oidc_subject TEXT;
CREATE UNIQUE INDEX users_by_oidc_subject ON users (oidc_subject) WHERE oidc_subject IS NOT NULL;
