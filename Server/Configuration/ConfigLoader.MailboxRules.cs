using System.Text.Json;
using MailServer.Rules.MailboxRules;
using MailServer.Rules.Addressing;

namespace MailServer.Server.Configuration;

// Users[].MailboxRules (MAILBOX_RULE, §9.8): read here so the shared loader changes by one line.
public static partial class ConfigLoader
{
    private sealed partial class Parser
    {
        /// <summary>
        /// <c>"MailboxRules": [ { "Name", "Conditions": [ { "Field": "Sender|Recipient|Subject|Header", "Header"?, "Contains" } ],
        /// "Actions": [ { "Type": "Move|Copy|Forward|Redirect|Delete|MarkRead", "Folder"?, "To"? } ], "StopProcessingRules" } ]</c>
        /// </summary>
        private List<MailboxRuleDefinition> ReadMailboxRules(JsonObjectReader user)
        {
            var rules = user.Array("MailboxRules", ReadMailboxRule);
            if (rules.Count > 0)
            {
                var problems = new List<MailboxRuleError>();
                MailboxRuleSet.Compile(rules, problems);
                foreach (var p in problems)
                    Add(user.PathOf("MailboxRules") + p.Path, p.Message);
            }
            return rules;
        }

        private MailboxRuleDefinition? ReadMailboxRule(JsonElement element, string path)
        {
            var r = JsonObjectReader.Open(element, path, errors);
            if (r is null)
                return null;
            var name = r.String("Name", required: true);
            var conditions = r.Array("Conditions", ReadMailboxCondition, required: true);
            var actions = r.Array("Actions", ReadMailboxAction, required: true);
            var stop = r.Bool("StopProcessingRules", false);
            r.Finish();
            return name is null ? null : new MailboxRuleDefinition(name, conditions, actions, stop);
        }

        private MailboxRuleCondition? ReadMailboxCondition(JsonElement element, string path)
        {
            var c = JsonObjectReader.Open(element, path, errors);
            if (c is null)
                return null;
            var field = c.Name("Field", ["Sender", "Recipient", "Subject", "Header"], null, required: true);
            var header = c.String("Header", required: field == "Header");
            if (field is not null && field != "Header" && header is not null)
                c.Error("Header", "is only used with \"Field\": \"Header\"");
            var text = c.String("Contains", required: true);
            c.Finish();
            if (field is null || text is null)
                return null;
            return field switch
            {
                "Sender" => new MailboxRuleCondition.SenderContains(text),
                "Recipient" => new MailboxRuleCondition.RecipientContains(text),
                "Subject" => new MailboxRuleCondition.SubjectContains(text),
                _ => header is null ? null : new MailboxRuleCondition.HeaderContains(header, text),
            };
        }

        private MailboxRuleAction? ReadMailboxAction(JsonElement element, string path)
        {
            var a = JsonObjectReader.Open(element, path, errors);
            if (a is null)
                return null;
            var type = a.Name("Type", ["Move", "Copy", "Forward", "Redirect", "Delete", "MarkRead"], null, required: true);
            var folder = a.String("Folder", required: type is "Move" or "Copy");
            var to = a.String("To", required: type is "Forward" or "Redirect");
            if (type is not ("Move" or "Copy") && folder is not null)
                a.Error("Folder", "is only used with Move and Copy");
            if (type is not ("Forward" or "Redirect") && to is not null)
                a.Error("To", "is only used with Forward and Redirect");
            a.Finish();
            return type switch
            {
                "Move" when folder is not null => new MailboxRuleAction.Move(folder),
                "Copy" when folder is not null => new MailboxRuleAction.Copy(folder),
                "Forward" when to is not null => new MailboxRuleAction.Forward(to.Trim().ToLowerInvariant()),
                "Redirect" when to is not null => new MailboxRuleAction.Redirect(to.Trim().ToLowerInvariant()),
                "Delete" => new MailboxRuleAction.Delete(),
                "MarkRead" => new MailboxRuleAction.MarkRead(),
                _ => null,
            };
        }
    }
}

// Organizations[].MessageFlowApi (§11): bearer tokens scoped to contexts, read or read+update.
public static partial class ConfigLoader
{
    private sealed partial class Parser
    {
        /// <summary>The shortest token accepted: 32 characters (128 bits of hex).</summary>
        private const int MinTokenLength = 32;

        private MessageFlowApiConfig? ReadMessageFlowApi(JsonObjectReader? m)
        {
            if (m is null)
                return null;
            var tokens = m.Array("Tokens", (e, p) =>
            {
                var t = JsonObjectReader.Open(e, p, errors);
                if (t is null)
                    return null;
                var token = t.String("Token", required: true);
                if (token is not null && (token.Length < MinTokenLength || token.Any(char.IsWhiteSpace)))
                    t.Error("Token", $"a token needs at least {MinTokenLength} characters and no spaces (e.g. `openssl rand -hex 32`)");
                var contexts = t.Strings("Contexts", (s, cp) =>
                {
                    if (MessageFlowTokenConfig.KnownContexts.Contains(s, StringComparer.Ordinal))
                        return s;
                    Add(cp, $"'{s}' is not one of: {string.Join(", ", MessageFlowTokenConfig.KnownContexts)}");
                    return null;
                });
                if (!t.Has("Contexts"))
                    t.Error("Contexts", "is required: [\"incoming\"], [\"outgoing\"] or both");
                var update = t.Bool("AllowUpdate", false);
                t.Finish();
                return token is null ? null : new MessageFlowTokenConfig(token, contexts, update);
            });
            m.Finish();
            return new MessageFlowApiConfig(tokens);
        }
    }
}
