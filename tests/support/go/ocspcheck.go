// A Go relying party: golang.org/x/crypto/ocsp, the OCSP library Go programs use (Caddy's
// certmagic, cfssl). It builds a request for LEAF with a SHA-1 or SHA-256 CertID, sends it
// by POST or as a GET of the plain base64 (slashes and all, as Go code commonly does), and
// parses and verifies the response against ISSUER (a delegated responder certificate in
// the response must be ISSUER's, with the OCSP-signing EKU).
// Prints one line: "good", "revoked <reason code>", "unknown" or "error <message>".
// Usage: ocspcheck ISSUER.pem LEAF.pem URL post|get sha1|sha256
package main

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"

	"golang.org/x/crypto/ocsp"
)

func main() {
	issuer, leaf, url := load(os.Args[1]), load(os.Args[2]), os.Args[3]
	hash := crypto.SHA1
	if os.Args[5] == "sha256" {
		hash = crypto.SHA256
	}
	request, err := ocsp.CreateRequest(leaf, issuer, &ocsp.RequestOptions{Hash: hash})
	if err != nil {
		fail(err)
	}
	var response *http.Response
	if os.Args[4] == "get" {
		response, err = http.Get(strings.TrimSuffix(url, "/") + "/" + base64.StdEncoding.EncodeToString(request))
	} else {
		response, err = http.Post(url, "application/ocsp-request", bytes.NewReader(request))
	}
	if err != nil {
		fail(err)
	}
	defer response.Body.Close()
	body, err := io.ReadAll(response.Body)
	if err != nil {
		fail(err)
	}
	parsed, err := ocsp.ParseResponseForCert(body, leaf, issuer)
	if err != nil {
		fail(err)
	}
	switch parsed.Status {
	case ocsp.Good:
		fmt.Println("good")
	case ocsp.Revoked:
		fmt.Printf("revoked %d\n", parsed.RevocationReason)
	default:
		fmt.Println("unknown")
	}
}

func load(file string) *x509.Certificate {
	data, err := os.ReadFile(file)
	if err != nil {
		fail(err)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		fail(fmt.Errorf("%s: no PEM block", file))
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		fail(err)
	}
	return cert
}

func fail(err error) {
	fmt.Println("error", err)
	os.Exit(0)
}
