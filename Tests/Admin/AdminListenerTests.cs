using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using MailServer.Server.Admin;
using MailServer.Tests.Support;
using NUnit.Framework;

namespace MailServer.Tests.Admin;

/// <summary>The admin HTTP listener of the real server: health for probes, admin routes only with the token.</summary>
[TestFixture]
public sealed class AdminListenerTests
{
    [Test]
    public async Task Health_answers_anyone_and_admin_routes_want_the_token_from_the_data_directory()
    {
        await using var server = ServerProcess.Create();
        await server.StartAsync();
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{server.ListenerPorts.Admin}/") };

        using var health = await http.GetAsync("health");
        using var anonymous = await http.GetAsync("admin/status");
        var tokenFile = Path.Combine(server.DataDirectory, AdminToken.FileName);
        var token = (await File.ReadAllTextAsync(tokenFile)).Trim();
        using var wrong = new HttpRequestMessage(HttpMethod.Get, "admin/status");
        wrong.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token[..^1] + (token[^1] == 'A' ? 'B' : 'A'));
        using var wrongResponse = await http.SendAsync(wrong);
        using var right = new HttpRequestMessage(HttpMethod.Get, "admin/status");
        right.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        using var rightResponse = await http.SendAsync(right);

        Assert.Multiple(async () =>
        {
            Assert.That(health.StatusCode, Is.EqualTo(HttpStatusCode.OK));
            Assert.That(JsonDocument.Parse(await health.Content.ReadAsStringAsync()).RootElement.GetProperty("status").GetString(), Is.EqualTo("ok"));
            Assert.That(anonymous.StatusCode, Is.EqualTo(HttpStatusCode.Unauthorized));
            Assert.That(anonymous.Headers.WwwAuthenticate.ToString(), Does.StartWith("Bearer"));
            Assert.That(wrongResponse.StatusCode, Is.EqualTo(HttpStatusCode.Unauthorized));
            Assert.That(rightResponse.StatusCode, Is.EqualTo(HttpStatusCode.OK));
            Assert.That(await rightResponse.Content.ReadAsStringAsync(), Does.Contain("example.test"));
            if (!OperatingSystem.IsWindows())
                Assert.That(File.GetUnixFileMode(tokenFile), Is.EqualTo(UnixFileMode.UserRead | UnixFileMode.UserWrite));
        });
    }
}
