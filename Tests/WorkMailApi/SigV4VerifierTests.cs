using System.Text;
using MailServer.Server.Configuration;
using MailServer.Server.WorkMailApi;
using MailServer.Tests.Configuration;
using NUnit.Framework;

namespace MailServer.Tests.WorkMailApi;

/// <summary>Signature Version 4 checks of the WorkMail API (the real AWS CLI and boto3 sign in the end-to-end tests).</summary>
[TestFixture]
public sealed class SigV4VerifierTests
{
    private const string KeyId = "AKIAMAILSERVERTEST01";
    private const string Secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
    private static readonly DateTimeOffset Now = new(2026, 12, 6, 12, 0, 0, TimeSpan.Zero);

    private static ServerConfig Config()
    {
        var root = ConfigFixtures.Valid();
        root.Org()["AdminApi"] = new System.Text.Json.Nodes.JsonObject
        {
            ["AccessKeys"] = new System.Text.Json.Nodes.JsonArray(new System.Text.Json.Nodes.JsonObject { ["AccessKeyId"] = KeyId, ["SecretAccessKey"] = Secret }),
        };
        return ConfigFixtures.LoadOk(root);
    }

    private static SignedRequest Signed(DateTimeOffset at, string body = "{}", string service = "workmail", string secret = Secret, string keyId = KeyId)
    {
        var amzDate = at.ToString("yyyyMMdd'T'HHmmss'Z'");
        var date = amzDate[..8];
        var headers = new List<KeyValuePair<string, string>>
        {
            new("Host", "127.0.0.1:8025"),
            new("X-Amz-Date", amzDate),
            new("X-Amz-Target", "WorkMailService.ListUsers"),
            new("Content-Type", "application/x-amz-json-1.1"),
        };
        var unsigned = new SignedRequest("POST", "/", [], headers, Encoding.UTF8.GetBytes(body));
        string[] signedHeaders = ["content-type", "host", "x-amz-date", "x-amz-target"];
        var signature = SigV4Verifier.Signature(unsigned, signedHeaders, amzDate, $"{date}/eu-west-1/{service}/aws4_request", date, "eu-west-1", secret);
        headers.Add(new("Authorization",
            $"AWS4-HMAC-SHA256 Credential={keyId}/{date}/eu-west-1/{service}/aws4_request, SignedHeaders={string.Join(';', signedHeaders)}, Signature={signature}"));
        return unsigned with { Headers = headers };
    }

    private static string ErrorOf(SignedRequest request, DateTimeOffset now) =>
        Assert.Throws<WorkMailException>(() => SigV4Verifier.Verify(request, Config(), now))!.Type;

    [Test]
    public void A_request_signed_with_a_configured_key_names_its_organization()
    {
        var caller = SigV4Verifier.Verify(Signed(Now), Config(), Now.AddMinutes(4));
        Assert.That(caller, Is.EqualTo(new ApiCaller(KeyId, ConfigFixtures.OrgId, "eu-west-1")));
    }

    [Test]
    public void Refusals()
    {
        Assert.Multiple(() =>
        {
            Assert.That(ErrorOf(Signed(Now), Now.AddMinutes(6)), Is.EqualTo("InvalidSignatureException"), "older than the 5-minute window");
            Assert.That(ErrorOf(Signed(Now.AddMinutes(6)), Now), Is.EqualTo("InvalidSignatureException"), "from the future");
            Assert.That(ErrorOf(Signed(Now, secret: "another-secret-0123456789abcdef0123456789"), Now), Is.EqualTo("InvalidSignatureException"));
            Assert.That(ErrorOf(Signed(Now, keyId: "AKIAUNKNOWN000000000"), Now), Is.EqualTo("UnrecognizedClientException"));
            Assert.That(ErrorOf(Signed(Now, service: "s3"), Now), Is.EqualTo("InvalidSignatureException"));
            var tampered = Signed(Now, "{\"OrganizationId\":\"m-0123456789abcdef0123456789abcdef\"}") with { Body = Encoding.UTF8.GetBytes("{\"OrganizationId\":\"m-ffffffffffffffffffffffffffffffff\"}") };
            Assert.That(ErrorOf(tampered, Now), Is.EqualTo("InvalidSignatureException"), "the body is signed");
            var unsigned = Signed(Now) with { Headers = Signed(Now).Headers.Where(h => h.Key != "Authorization").ToList() };
            Assert.That(ErrorOf(unsigned, Now), Is.EqualTo("MissingAuthenticationTokenException"));
        });
    }
}
