"""The static world the generator draws from: languages, tools, real rule ids, Pixee codemods, names."""

from __future__ import annotations

from dataclasses import dataclass

ORG_SLUG = "acme-corp"
SCMS = ("github", "gitlab", "azure_devops", "bitbucket")
SCM_WEIGHTS = (0.55, 0.25, 0.12, 0.08)
SEVERITIES = ("critical", "high", "medium", "low")
SEVERITY_WEIGHTS = (0.05, 0.25, 0.45, 0.25)
CLASSIFICATIONS = ("TRUE_POSITIVE", "FALSE_POSITIVE", "WONT_FIX")
CLASSIFICATION_WEIGHTS = (0.55, 0.35, 0.10)
WEBHOOK_EVENTS = (
    "fix.generated",
    "pr.opened",
    "pr.merged",
    "pr.closed",
    "triage.completed",
    "scan.completed",
)

# Pixee fixes Java and Python (the codemods in ../shared/pixee-codemods.csv are all one or the other),
# so most repositories are Java or Python; the others get findings and triage but never a fix.
LANGUAGE_WEIGHTS = {"java": 0.42, "python": 0.38, "javascript": 0.08, "go": 0.05, "csharp": 0.04, "php": 0.03}

# Each language's scanners, most common first; a repository runs one or two of them.
TOOLS_BY_LANGUAGE = {
    "java": ("codeql", "sonar", "semgrep", "snyk", "checkmarx", "trivy"),
    "python": ("semgrep", "codeql", "sonar", "snyk", "defectdojo", "trivy"),
    "javascript": ("codeql", "semgrep", "snyk", "trivy"),
    "go": ("codeql", "semgrep", "trivy"),
    "csharp": ("codeql", "sonar", "veracode"),
    "php": ("sonar", "semgrep", "fortify"),
}


@dataclass(frozen=True)
class Rule:
    """One scanner rule: what the scanner calls it, and the weakness family a codemod can fix."""

    tool: str
    rule_id: str
    title: str
    cwe: str | None
    family: str


def _rules(lang: str, rows: list[tuple[str, str, str, str | None, str]]) -> tuple[Rule, ...]:
    return tuple(Rule(tool, rule_id, title, cwe, family) for tool, rule_id, title, cwe, family in rows)


RULES: dict[str, tuple[Rule, ...]] = {
    "java": _rules(
        "java",
        [
            ("codeql", "java/sql-injection", "Query built from user-controlled sources", "CWE-89", "sqli"),
            ("codeql", "java/insecure-randomness", "Insecure randomness", "CWE-330", "random"),
            (
                "codeql",
                "java/zipslip",
                "Arbitrary file access during archive extraction (Zip Slip)",
                "CWE-22",
                "zipslip",
            ),
            ("codeql", "java/ssrf", "Server-side request forgery", "CWE-918", "ssrf"),
            ("codeql", "java/command-line-injection", "Uncontrolled command line", "CWE-78", "cmdi"),
            (
                "codeql",
                "java/unsafe-deserialization",
                "Deserialization of user-controlled data",
                "CWE-502",
                "xstream",
            ),
            ("codeql", "java/insecure-cookie", "Failure to use secure cookies", "CWE-614", "cookie"),
            (
                "codeql",
                "java/stack-trace-exposure",
                "Information exposure through a stack trace",
                "CWE-209",
                "stacktrace",
            ),
            (
                "codeql",
                "java/database-resource-leak",
                "Potential database resource leak",
                "CWE-772",
                "dbleak",
            ),
            ("codeql", "java/missing-jwt-signature-check", "Missing JWT signature check", "CWE-347", "jwt"),
            (
                "semgrep",
                "java.lang.security.audit.formatted-sql-string.formatted-sql-string",
                "Detected a formatted string in a SQL statement",
                "CWE-89",
                "sqli",
            ),
            (
                "semgrep",
                "java.lang.security.audit.crypto.weak-random.weak-random",
                "Detected use of the functions Math.random() or java.util.Random()",
                "CWE-330",
                "random",
            ),
            (
                "semgrep",
                "java.lang.security.audit.command-injection-process-builder.command-injection-process-builder",
                "A formatted or concatenated string was detected as input to a ProcessBuilder call",
                "CWE-78",
                "cmdi",
            ),
            (
                "semgrep",
                "java.lang.security.audit.weak-ssl-context.weak-ssl-context",
                "An insecure SSL context was detected",
                "CWE-326",
                "tls",
            ),
            (
                "semgrep",
                "java.lang.security.audit.overly-permissive-file-permission.overly-permissive-file-permission",
                "Detected file permissions that are overly permissive",
                "CWE-276",
                "fileperm",
            ),
            (
                "semgrep",
                "java.lang.security.audit.sqli.hibernate-sqli.hibernate-sqli",
                "Detected a formatted string in a Hibernate query",
                "CWE-89",
                "hql",
            ),
            (
                "sonar",
                "java:S2245",
                "Using pseudorandom number generators (PRNGs) is security-sensitive",
                "CWE-330",
                "random",
            ),
            (
                "sonar",
                "java:S3649",
                "Database queries should not be vulnerable to injection attacks",
                "CWE-89",
                "sqli",
            ),
            ("sonar", "java:S125", "Sections of code should not be commented out", None, "commented"),
            ("sonar", "java:S1192", "String literals should not be duplicated", None, "dupliteral"),
            ("sonar", "java:S1481", "Unused local variables should be removed", None, "unusedvar"),
            ("snyk", "java/Sqli", "SQL Injection", "CWE-89", "sqli"),
            ("snyk", "java/InsecureRandom", "Use of Insecure Random Number Generator", "CWE-330", "random"),
            ("checkmarx", "Java_High_Risk.SQL_Injection", "SQL Injection", "CWE-89", "sqli"),
            (
                "checkmarx",
                "Java_Medium_Threat.Use_Of_Hardcoded_Password",
                "Use of Hardcoded Password",
                "CWE-259",
                "none",
            ),
            (
                "trivy",
                "CVE-2021-44228",
                "log4j-core: Remote code execution in Log4j 2.x (Log4Shell)",
                "CWE-502",
                "none",
            ),
            (
                "trivy",
                "CVE-2022-22965",
                "spring-beans: Spring Framework RCE via data binding (Spring4Shell)",
                "CWE-94",
                "none",
            ),
        ],
    ),
    "python": _rules(
        "python",
        [
            (
                "semgrep",
                "python.lang.security.audit.formatted-sql-query.formatted-sql-query",
                "Detected possible formatted SQL query",
                "CWE-89",
                "sqli",
            ),
            (
                "semgrep",
                "python.lang.security.audit.subprocess-shell-true.subprocess-shell-true",
                "Found 'subprocess' function with 'shell=True'",
                "CWE-78",
                "cmdi",
            ),
            (
                "semgrep",
                "python.lang.security.deserialization.avoid-pyyaml-load.avoid-pyyaml-load",
                "Avoid using insecure deserialization library yaml.load",
                "CWE-502",
                "yaml",
            ),
            (
                "semgrep",
                "python.lang.security.use-defused-xml.use-defused-xml",
                "The native Python xml library is vulnerable to XML External Entity (XXE) attacks",
                "CWE-611",
                "xml",
            ),
            (
                "semgrep",
                "python.requests.best-practice.use-timeout.use-timeout",
                "Detected a 'requests' call without a timeout set",
                "CWE-400",
                "timeout",
            ),
            (
                "semgrep",
                "python.jwt.security.unverified-jwt-decode.unverified-jwt-decode",
                "Detected JWT token decoded with 'verify=False'",
                "CWE-287",
                "jwt",
            ),
            (
                "semgrep",
                "python.lang.security.deserialization.pickle.avoid-pickle",
                "Avoid using pickle, which is known to lead to code execution vulnerabilities",
                "CWE-502",
                "pickle",
            ),
            (
                "semgrep",
                "python.django.security.audit.secure-cookies.django-secure-set-cookie",
                "Django cookies should be handled securely by setting secure=True",
                "CWE-614",
                "cookie",
            ),
            ("codeql", "py/sql-injection", "SQL query built from user-controlled sources", "CWE-89", "sqli"),
            ("codeql", "py/command-line-injection", "Uncontrolled command line", "CWE-78", "cmdi"),
            (
                "codeql",
                "py/unsafe-deserialization",
                "Deserialization of user-controlled data",
                "CWE-502",
                "yaml",
            ),
            ("codeql", "py/xxe", "XML external entity expansion", "CWE-611", "xml"),
            ("codeql", "py/full-ssrf", "Full server-side request forgery", "CWE-918", "ssrf"),
            (
                "codeql",
                "py/modification-of-default-value",
                "Modification of parameter with default",
                None,
                "mutable",
            ),
            (
                "sonar",
                "python:S2245",
                "Using pseudorandom number generators (PRNGs) is security-sensitive",
                "CWE-330",
                "random",
            ),
            (
                "sonar",
                "python:S3649",
                "Database queries should not be vulnerable to injection attacks",
                "CWE-89",
                "sqli",
            ),
            (
                "sonar",
                "python:S4507",
                "Delivering code in production with debug features activated is security-sensitive",
                "CWE-489",
                "debug",
            ),
            ("snyk", "python/Sqli", "SQL Injection", "CWE-89", "sqli"),
            ("snyk", "python/InsecureRandom", "Use of Insecure Random Number Generator", "CWE-330", "random"),
            (
                "defectdojo",
                "python.django.security.audit.secure-cookies.django-secure-set-cookie",
                "Django cookies should be handled securely by setting secure=True",
                "CWE-614",
                "cookie",
            ),
            (
                "defectdojo",
                "python.lang.security.deserialization.pickle.avoid-pickle",
                "Avoid using pickle, which is known to lead to code execution vulnerabilities",
                "CWE-502",
                "pickle",
            ),
            (
                "trivy",
                "CVE-2023-32681",
                "requests: Unintended leak of Proxy-Authorization header",
                "CWE-200",
                "none",
            ),
            ("trivy", "CVE-2020-14343", "PyYAML: incomplete fix for CVE-2020-1747", "CWE-20", "none"),
        ],
    ),
    "javascript": _rules(
        "javascript",
        [
            (
                "codeql",
                "js/sql-injection",
                "Database query built from user-controlled sources",
                "CWE-89",
                "sqli",
            ),
            ("codeql", "js/reflected-xss", "Reflected cross-site scripting", "CWE-79", "xss"),
            ("codeql", "js/insecure-randomness", "Insecure randomness", "CWE-338", "random"),
            (
                "semgrep",
                "javascript.express.security.audit.xss.direct-response-write.direct-response-write",
                "Detected directly writing to a Response object from user-defined input",
                "CWE-79",
                "xss",
            ),
            (
                "semgrep",
                "javascript.lang.security.audit.path-traversal.path-join-resolve-traversal."
                "path-join-resolve-traversal",
                "Possible path traversal through path.join",
                "CWE-22",
                "path",
            ),
            ("snyk", "javascript/Sqli", "SQL Injection", "CWE-89", "sqli"),
            ("snyk", "javascript/DOMXSS", "DOM-based Cross-site Scripting (XSS)", "CWE-79", "xss"),
            ("trivy", "CVE-2022-24999", "express: qs prototype pollution", "CWE-1321", "none"),
        ],
    ),
    "go": _rules(
        "go",
        [
            (
                "codeql",
                "go/sql-injection",
                "Database query built from user-controlled sources",
                "CWE-89",
                "sqli",
            ),
            ("codeql", "go/path-injection", "Uncontrolled data used in path expression", "CWE-22", "path"),
            (
                "semgrep",
                "go.lang.security.audit.crypto.math_random.math-random-used",
                "Do not use math/rand. Use crypto/rand instead",
                "CWE-338",
                "random",
            ),
            (
                "semgrep",
                "go.lang.security.audit.database.string-formatted-query.string-formatted-query",
                "String-formatted SQL query detected",
                "CWE-89",
                "sqli",
            ),
            (
                "trivy",
                "CVE-2023-39325",
                "golang.org/x/net: rapid stream resets can cause excessive work",
                "CWE-770",
                "none",
            ),
        ],
    ),
    "csharp": _rules(
        "csharp",
        [
            ("codeql", "cs/sql-injection", "SQL query built from user-controlled sources", "CWE-89", "sqli"),
            ("codeql", "cs/web/xss", "Cross-site scripting", "CWE-79", "xss"),
            (
                "sonar",
                "csharpsquid:S2245",
                "Using pseudorandom number generators (PRNGs) is security-sensitive",
                "CWE-330",
                "random",
            ),
            (
                "sonar",
                "csharpsquid:S3649",
                "Database queries should not be vulnerable to injection attacks",
                "CWE-89",
                "sqli",
            ),
            (
                "veracode",
                "CWE-89",
                "Improper Neutralization of Special Elements used in an SQL Command",
                "CWE-89",
                "sqli",
            ),
        ],
    ),
    "php": _rules(
        "php",
        [
            (
                "sonar",
                "php:S2245",
                "Using pseudorandom number generators (PRNGs) is security-sensitive",
                "CWE-330",
                "random",
            ),
            (
                "sonar",
                "php:S3649",
                "Database queries should not be vulnerable to injection attacks",
                "CWE-89",
                "sqli",
            ),
            (
                "semgrep",
                "php.lang.security.injection.tainted-sql-string.tainted-sql-string",
                "User data flows into this manually-constructed SQL string",
                "CWE-89",
                "sqli",
            ),
            (
                "semgrep",
                "php.lang.security.unlink-use.unlink-use",
                "Using user input when deleting files with unlink()",
                "CWE-22",
                "path",
            ),
            ("fortify", "SQL Injection", "SQL Injection", "CWE-89", "sqli"),
        ],
    ),
}
RULES_BY_TOOL: dict[tuple[str, str], tuple[Rule, ...]] = {}
for _lang, _rules_of_lang in RULES.items():
    for _tool in TOOLS_BY_LANGUAGE[_lang]:
        RULES_BY_TOOL[(_lang, _tool)] = tuple(r for r in _rules_of_lang if r.tool == _tool)


@dataclass(frozen=True)
class Codemod:
    """A Pixee codemod (../shared/pixee-codemods.csv) and what it does, for summaries and diffs."""

    id: str
    family: str
    summary: str
    before: str
    after: str


# ../shared/pixee-codemods.csv, each row given the weakness family it remediates and a diff snippet.
CODEMODS: dict[str, tuple[Codemod, ...]] = {
    "java": (
        Codemod(
            "pixee:java/secure-random",
            "random",
            "Introduced protections against predictable RNG abuse",
            "Random random = new Random();",
            "Random random = new java.security.SecureRandom();",
        ),
        Codemod(
            "pixee:java/sql-parameterizer",
            "sqli",
            "Refactored to use parameterized SQL APIs",
            'stmt.executeQuery("SELECT * FROM users WHERE name = \'" + name + "\'");',
            'PreparedStatement ps = conn.prepareStatement("SELECT * FROM users WHERE name = ?");',
        ),
        Codemod(
            "pixee:java/hql-parameterizer",
            "hql",
            "Refactored Hibernate queries to use named parameters",
            'session.createQuery("from User where name = \'" + name + "\'");',
            'session.createQuery("from User where name = :name").setParameter("name", name);',
        ),
        Codemod(
            "pixee:java/harden-xstream",
            "xstream",
            "Hardened XStream with a converter to prevent exploitation",
            "XStream xstream = new XStream();",
            "XStream xstream = new XStream();\n    xstream.registerConverter(new HardeningConverter());",
        ),
        Codemod(
            "pixee:java/harden-zip-entry-paths",
            "zipslip",
            "Introduced protections against zip slip attacks",
            "ZipInputStream zis = new ZipInputStream(in);",
            "ZipInputStream zis = ZipSecurity.createHardenedInputStream(in);",
        ),
        Codemod(
            "pixee:java/sandbox-url-creation",
            "ssrf",
            "Sandboxed URL creation to prevent SSRF attacks",
            "URL url = new URL(target);",
            "URL url = Urls.create(target, Urls.HTTP_PROTOCOLS, HostValidator.ALLOW_ALL);",
        ),
        Codemod(
            "pixee:java/harden-process-creation",
            "cmdi",
            "Introduced protections against system command injection",
            "Runtime.getRuntime().exec(command);",
            "SystemCommand.runCommand(Runtime.getRuntime(), command);",
        ),
        Codemod(
            "pixee:java/upgrade-sslcontext-tls",
            "tls",
            "Upgraded SSLContext#getInstance() TLS versions to match current best practices",
            'SSLContext.getInstance("TLSv1");',
            'SSLContext.getInstance("TLSv1.2");',
        ),
        Codemod(
            "pixee:java/limit-readline",
            "readline",
            "Protect BufferedReader#readLine() from DoS",
            "String line = reader.readLine();",
            "String line = BoundedLineReader.readLine(reader, 5_000_000);",
        ),
        Codemod(
            "pixee:java/switch-literal-first",
            "literal",
            "Switch order of literals to prevent NullPointerException",
            'if (name.equals("admin")) {',
            'if ("admin".equals(name)) {',
        ),
        Codemod(
            "codeql:java/insecure-cookie",
            "cookie",
            "Added secure flag to cookies",
            "response.addCookie(cookie);",
            "cookie.setSecure(true);\n    response.addCookie(cookie);",
        ),
        Codemod(
            "codeql:java/stack-trace-exposure",
            "stacktrace",
            "Prevent information leak of stack trace details",
            "response.sendError(500, e.getMessage());",
            "response.sendError(500);",
        ),
        Codemod(
            "codeql:java/database-resource-leak",
            "dbleak",
            "Prevent database resource leaks",
            "Statement stmt = conn.createStatement();",
            "try (Statement stmt = conn.createStatement()) {",
        ),
        Codemod(
            "codeql:java/missing-jwt-signature-check",
            "jwt",
            "Switch JWT calls to versions that enforce signature validity",
            "Jwts.parser().setSigningKey(key).parse(token);",
            "Jwts.parser().setSigningKey(key).parseClaimsJws(token);",
        ),
        Codemod(
            "sonar:java/remove-commented-code-s125",
            "commented",
            "Removed commented-out code (Sonar)",
            "// user.setRole(Role.ADMIN);",
            "",
        ),
        Codemod(
            "sonar:java/define-constant-for-duplicate-literal-s1192",
            "dupliteral",
            "Defined a constant for a duplicated literal (Sonar)",
            'log.info("request-id");',
            "log.info(REQUEST_ID);",
        ),
        Codemod(
            "sonar:java/remove-unused-local-variable-s1481",
            "unusedvar",
            "Removed unused local variable (Sonar)",
            "int unused = compute();",
            "compute();",
        ),
        Codemod(
            "semgrep:java/java.lang.security.audit.overly-permissive-file-permission."
            "overly-permissive-file-permission",
            "fileperm",
            "Fixed overly permissive file permissions (Semgrep)",
            'Files.setPosixFilePermissions(path, PosixFilePermissions.fromString("rwxrwxrwx"));',
            'Files.setPosixFilePermissions(path, PosixFilePermissions.fromString("rwx------"));',
        ),
    ),
    "python": (
        Codemod(
            "pixee:python/secure-random",
            "random",
            "Secure Source of Randomness",
            "token = random.random()",
            "token = secrets.SystemRandom().random()",
        ),
        Codemod(
            "pixee:python/sql-parameterization",
            "sqli",
            "Parameterize SQL Queries",
            "cursor.execute(f\"SELECT * FROM users WHERE name = '{name}'\")",
            'cursor.execute("SELECT * FROM users WHERE name = ?", (name,))',
        ),
        Codemod(
            "pixee:python/add-requests-timeouts",
            "timeout",
            "Add timeout to `requests` calls",
            "resp = requests.get(url)",
            "resp = requests.get(url, timeout=60)",
        ),
        Codemod(
            "pixee:python/django-debug-flag-on",
            "debug",
            "Disable Django Debug Mode",
            "DEBUG = True",
            "DEBUG = False",
        ),
        Codemod(
            "pixee:python/harden-pyyaml",
            "yaml",
            "Replace unsafe `pyyaml` loader with `SafeLoader`",
            "data = yaml.load(stream, Loader=yaml.Loader)",
            "data = yaml.load(stream, Loader=yaml.SafeLoader)",
        ),
        Codemod(
            "pixee:python/use-defusedxml",
            "xml",
            "Use `defusedxml` for Parsing XML",
            "tree = xml.etree.ElementTree.parse(source)",
            "tree = defusedxml.ElementTree.parse(source)",
        ),
        Codemod(
            "pixee:python/subprocess-shell-false",
            "cmdi",
            "Use `shell=False` in `subprocess` Function Calls",
            "subprocess.run(cmd, shell=True)",
            "subprocess.run(cmd, shell=False)",
        ),
        Codemod(
            "pixee:python/url-sandbox",
            "ssrf",
            "Sandbox URL Creation",
            "resp = requests.get(target)",
            "resp = safe_requests.get(target)",
        ),
        Codemod(
            "pixee:python/jwt-decode-verify",
            "jwt",
            "Verify JWT Decode",
            'jwt.decode(token, key, options={"verify_signature": False})',
            "jwt.decode(token, key)",
        ),
        Codemod(
            "pixee:python/fix-mutable-params",
            "mutable",
            "Replace Mutable Default Parameters",
            "def add(item, items=[]):",
            "def add(item, items=None):\n    items = [] if items is None else items",
        ),
        Codemod(
            "sonar:python/secure-random-S2245",
            "random",
            "Sonar: Secure Source of Randomness",
            "token = random.random()",
            "token = secrets.SystemRandom().random()",
        ),
        Codemod(
            "sonar:python/sql-parameterization-S3649",
            "sqli",
            "Sonar: Parameterize SQL Queries",
            'cursor.execute("SELECT * FROM t WHERE id = %s" % ident)',
            'cursor.execute("SELECT * FROM t WHERE id = %s", (ident,))',
        ),
        Codemod(
            "defectdojo:python/django-secure-set-cookie",
            "cookie",
            "DefectDojo: Use Secure Cookies in Django",
            'response.set_cookie("session", value)',
            'response.set_cookie("session", value, secure=True)',
        ),
        Codemod(
            "defectdojo:python/avoid-insecure-deserialization",
            "pickle",
            "DefectDojo: Avoid insecure deserialization",
            "obj = pickle.loads(payload)",
            "obj = fickling.load(payload)",
        ),
    ),
}


def codemod_for(language: str, rule: Rule) -> Codemod | None:
    """The codemod Pixee would use: a tool-specific one for that tool's findings, else a pixee: one."""
    candidates = [c for c in CODEMODS.get(language, ()) if c.family == rule.family]
    for codemod in candidates:
        if codemod.id.startswith(f"{rule.tool}:"):
            return codemod
    for codemod in candidates:
        if codemod.id.startswith("pixee:"):
            return codemod
    return None


REPO_NAMES = (
    "backend-api",
    "payments-service",
    "web-frontend",
    "auth-gateway",
    "inventory-service",
    "data-pipeline",
    "mobile-bff",
    "billing-engine",
    "search-indexer",
    "notification-hub",
    "admin-portal",
    "reporting-jobs",
    "user-profile",
    "checkout-flow",
    "ml-scoring",
    "catalog-service",
    "shipping-tracker",
    "docs-site",
    "feature-flags",
    "audit-log",
    "identity-sync",
    "pricing-rules",
    "ledger-core",
    "partner-api",
)
PACKAGE_WORDS = (
    "orders",
    "users",
    "billing",
    "auth",
    "reports",
    "search",
    "export",
    "admin",
    "util",
    "api",
    "jobs",
    "payments",
    "session",
    "config",
    "storage",
)
CLASS_WORDS = ("Controller", "Service", "Repository", "Handler", "Client", "Resource", "Manager", "Importer")
SOURCE_EXT = {
    "java": ".java",
    "python": ".py",
    "javascript": ".js",
    "go": ".go",
    "csharp": ".cs",
    "php": ".php",
}
