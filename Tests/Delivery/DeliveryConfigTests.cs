using MailServer.Server.Configuration;
using MailServer.Server.Delivery;
using NUnit.Framework;

namespace MailServer.Tests.Delivery;

/// <summary>The Delivery section's queue keys and the backoff they give.</summary>
[TestFixture]
public sealed class DeliveryConfigTests
{
    private static ConfigLoadResult Load(string delivery) => ConfigLoader.Parse($$"""
        { "MailServer": { "ServerName": "mx.example.test", "Delivery": {{delivery}},
          "Organizations": [ { "Id": "m-0123456789abcdef0123456789abcdef", "Alias": "example", "MasterKeyPath": "k.key",
            "Domains": [ { "Name": "example.test", "Default": true } ] } ] } }
        """, "/srv/mail/appsettings.json");

    [Test]
    public void Defaults_are_five_days_four_hours_and_five_minutes_doubling_to_an_hour()
    {
        var config = ((ConfigLoadResult.Ok)Load("{}")).Config.Delivery;

        Assert.That(config, Is.EqualTo(new DeliveryConfig(25, 120, 4, 300, 3600, 5)));
        Assert.That(OutboundQueue.Backoff(1, config), Is.EqualTo(TimeSpan.FromMinutes(5)));
        Assert.That(OutboundQueue.Backoff(3, config), Is.EqualTo(TimeSpan.FromMinutes(20)));
        Assert.That(OutboundQueue.Backoff(30, config), Is.EqualTo(TimeSpan.FromHours(1)));
    }

    [Test]
    public void A_synchronous_hook_is_retried_from_one_second_doubling_to_five_minutes()
    {
        // WorkMail Administrator Guide, "Lambda integration", and docs/decisions.md, "Hooks are HTTP webhooks": exponential backoff until the rule timeout.
        var config = ((ConfigLoadResult.Ok)Load("{}")).Config.Delivery;
        var small = ((ConfigLoadResult.Ok)Load("""{ "HookRetryMinimumSeconds": 2, "HookRetryMaximumSeconds": 5 }""")).Config.Delivery;

        Assert.That(new[] { 1, 2, 3, 9, 10, 40 }.Select(config.HookRetryDelay).Select(d => d.TotalSeconds), Is.EqualTo(new[] { 1, 2, 4, 256, 300, 300 }));
        Assert.That(new[] { 1, 2, 3 }.Select(small.HookRetryDelay).Select(d => d.TotalSeconds), Is.EqualTo(new[] { 2, 4, 5 }));
    }

    [TestCase("""{ "RetryMinimumSeconds": 60, "RetryMaximumSeconds": 30 }""", "$.MailServer.Delivery.RetryMaximumSeconds")]
    [TestCase("""{ "QueueLifetimeHours": 0 }""", "$.MailServer.Delivery.QueueLifetimeHours")]
    [TestCase("""{ "HookRetryMinimumSeconds": 10, "HookRetryMaximumSeconds": 5 }""", "$.MailServer.Delivery.HookRetryMaximumSeconds")]
    [TestCase("""{ "HookRetryMinimumSeconds": 0 }""", "$.MailServer.Delivery.HookRetryMinimumSeconds")]
    public void Bad_values_are_refused_with_their_path(string delivery, string path)
    {
        var errors = ((ConfigLoadResult.Invalid)Load(delivery)).Errors;

        Assert.That(errors.Select(e => e.Path), Does.Contain(path));
    }
}
