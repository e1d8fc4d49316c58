package salesforce

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// session is one access token and the instance it is valid for.
type session struct {
	token       string
	instanceURL string
}

// fetchToken signs in once (no retry: the caller retries transient errors).
func (c *Client) fetchToken(ctx context.Context) (session, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.RequestTimeout)
	defer cancel()
	c.tokenRequests.Add(1)
	switch c.cfg.Auth {
	case AuthClientCredentials:
		return c.clientCredentials(ctx)
	default:
		return c.jwtBearer(ctx)
	}
}

// clientCredentials uses x/oauth2's client credentials flow: it speaks RFC
// 6749 §4.4 with the secret in the body or a Basic header and hands back the
// extra fields (instance_url). Salesforce sends no expires_in, so the token
// is used until a 401 says otherwise.
func (c *Client) clientCredentials(ctx context.Context) (session, error) {
	style := oauth2.AuthStyleInParams
	if c.cfg.SecretInHeader {
		style = oauth2.AuthStyleInHeader
	}
	cc := clientcredentials.Config{
		ClientID: c.cfg.ClientID, ClientSecret: c.cfg.ClientSecret,
		TokenURL: c.cfg.LoginURL + "/services/oauth2/token", AuthStyle: style,
	}
	tok, err := cc.Token(context.WithValue(ctx, oauth2.HTTPClient, c.hc))
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) {
			status := 0
			if re.Response != nil {
				status = re.Response.StatusCode
			}
			code, desc := re.ErrorCode, re.ErrorDescription
			if code == "" {
				code, desc = parseOAuthError(re.Body)
			}
			if status >= 500 || status == http.StatusTooManyRequests {
				return session{}, &transientError{status: status, err: fmt.Errorf("salesforce token endpoint: HTTP %d", status)}
			}
			return session{}, &AuthError{Flow: AuthClientCredentials, Status: status, Code: code, Description: desc}
		}
		// Network failures: x/oauth2 wraps the transport's error.
		return session{}, &transientError{err: fmt.Errorf("salesforce token endpoint %s: %w", c.cfg.LoginURL, err)}
	}
	inst, _ := tok.Extra("instance_url").(string)
	return c.newSession(tok.AccessToken, inst)
}

// jwtBearer signs the assertion Salesforce documents (iss = consumer key,
// sub = username, aud = login/test/site URL, exp a few minutes ahead) and
// posts it. https://help.salesforce.com/s/articleView?id=sf.remoteaccess_oauth_jwt_flow.htm
func (c *Client) jwtBearer(ctx context.Context) (session, error) {
	now := time.Now()
	claims := jwt.MapClaims{
		"iss": c.cfg.ClientID,
		"sub": c.cfg.Username,
		"aud": c.cfg.Audience,
		"exp": now.Add(3 * time.Minute).Unix(),
	}
	assertion, err := jwt.NewWithClaims(jwt.SigningMethodRS256, claims).SignedString(c.jwtKey)
	if err != nil {
		return session{}, fmt.Errorf("salesforce sign-in: sign JWT: %w", err)
	}
	form := url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:jwt-bearer"}, "assertion": {assertion}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.cfg.LoginURL+"/services/oauth2/token", strings.NewReader(form.Encode()))
	if err != nil {
		return session{}, fmt.Errorf("salesforce sign-in: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	resp, err := c.hc.Do(req)
	if err != nil {
		return session{}, &transientError{err: fmt.Errorf("salesforce token endpoint %s: %w", c.cfg.LoginURL, scrubURLError(err))}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return session{}, &transientError{err: fmt.Errorf("salesforce token endpoint: read answer: %w", err)}
	}
	if resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests {
		return session{}, &transientError{status: resp.StatusCode, retryAfter: retryAfter(resp.Header), err: fmt.Errorf("salesforce token endpoint: HTTP %d", resp.StatusCode)}
	}
	if resp.StatusCode != http.StatusOK {
		code, desc := parseOAuthError(body)
		return session{}, &AuthError{Flow: AuthJWTBearer, Status: resp.StatusCode, Code: code, Description: desc}
	}
	var tr struct {
		AccessToken string `json:"access_token"`
		InstanceURL string `json:"instance_url"`
	}
	if err := json.Unmarshal(body, &tr); err != nil {
		return session{}, fmt.Errorf("salesforce token endpoint: answer is not JSON: %w", err)
	}
	return c.newSession(tr.AccessToken, tr.InstanceURL)
}

func (c *Client) newSession(token, instance string) (session, error) {
	if token == "" {
		return session{}, errors.New("salesforce token endpoint: answer has no access_token")
	}
	u, err := url.Parse(instance)
	if instance == "" || err != nil || u.Scheme != "https" || u.Host == "" {
		return session{}, fmt.Errorf("salesforce token endpoint: instance_url %q is not an https URL", instance)
	}
	return session{token: token, instanceURL: strings.TrimSuffix(instance, "/")}, nil
}

func parseOAuthError(body []byte) (code, desc string) {
	var e struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	if json.Unmarshal(body, &e) == nil && e.Error != "" {
		return e.Error, e.Description
	}
	return "unknown_error", fmt.Sprintf("%.200s", body)
}

// scrubURLError drops the URL from a *url.Error: request URLs can carry SOQL
// with customer data, never tokens (those travel in headers), but keep logs lean.
func scrubURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s: %w", ue.Op, ue.Err)
	}
	return err
}
