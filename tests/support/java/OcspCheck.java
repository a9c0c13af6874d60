// A Java relying party: validates one end-entity certificate against a CA with the JDK's
// own PKIX revocation checker asking an OCSP responder (JDK 17 sends a GET when the
// URL-encoded request fits in 255 characters, else a POST). Prints one line:
// "good", "revoked <reason>" or "error <reason> <message>".
// Usage: java OcspCheck CA.pem LEAF.pem RESPONDER_URL [RESPONDER_CERT.pem]

import java.io.FileInputStream;
import java.io.InputStream;
import java.net.URI;
import java.security.cert.CertPath;
import java.security.cert.CertPathValidator;
import java.security.cert.CertPathValidatorException;
import java.security.cert.CertificateFactory;
import java.security.cert.CertificateRevokedException;
import java.security.cert.PKIXParameters;
import java.security.cert.PKIXRevocationChecker;
import java.security.cert.TrustAnchor;
import java.security.cert.X509Certificate;
import java.util.EnumSet;
import java.util.List;
import java.util.Set;

public class OcspCheck {
    public static void main(String[] args) throws Exception {
        CertificateFactory factory = CertificateFactory.getInstance("X.509");
        X509Certificate ca = load(factory, args[0]);
        X509Certificate leaf = load(factory, args[1]);
        CertPath path = factory.generateCertPath(List.of(leaf));
        CertPathValidator validator = CertPathValidator.getInstance("PKIX");
        PKIXRevocationChecker checker = (PKIXRevocationChecker) validator.getRevocationChecker();
        checker.setOcspResponder(URI.create(args[2]));
        if (args.length > 3) {
            checker.setOcspResponderCert(load(factory, args[3]));  // a pinned, trusted responder
        }
        checker.setOptions(EnumSet.of(
            PKIXRevocationChecker.Option.ONLY_END_ENTITY,
            PKIXRevocationChecker.Option.NO_FALLBACK));
        PKIXParameters params = new PKIXParameters(Set.of(new TrustAnchor(ca, null)));
        params.addCertPathChecker(checker);
        try {
            validator.validate(path, params);
            System.out.println("good");
        } catch (CertPathValidatorException e) {
            if (e.getReason() == CertPathValidatorException.BasicReason.REVOKED
                    && e.getCause() instanceof CertificateRevokedException revoked) {
                System.out.println("revoked " + revoked.getRevocationReason());
            } else {
                System.out.println("error " + e.getReason() + " " + e.getMessage());
            }
        }
    }

    private static X509Certificate load(CertificateFactory factory, String file) throws Exception {
        try (InputStream in = new FileInputStream(file)) {
            return (X509Certificate) factory.generateCertificate(in);
        }
    }
}
