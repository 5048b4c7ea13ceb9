using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Grpc.Core;
using Grpc.Net.Client;
using Pulsarish.Client;
using Pulsarish.Protocol.Admin;

namespace Pulsarish.Cli;

/// <summary><c>pulsarish admin subscriptions …</c>.</summary>
public static partial class AdminCommands
{
    private static Command Subscriptions()
    {
        var group = new Command("subscriptions", "Subscriptions: list, create, delete, reset-cursor, skip");
        var listTopic = TopicArgument();
        group.Subcommands.Add(Leaf("list", "List the subscriptions of a topic", [listTopic], async (c, p, ct) =>
        {
            var topic = p.GetValue(listTopic)!;
            return Names(p, (await (await c.OwnerAsync(topic, ct)).ListSubscriptionsAsync(new TopicRequest { Topic = topic }, cancellationToken: ct)).Names);
        }));

        var createTopic = TopicArgument();
        var createName = SubscriptionOption();
        var earliest = new Option<bool>("--earliest") { Description = "Start at the first message (default: the end)" };
        group.Subcommands.Add(Leaf("create", "Create a subscription", [createTopic, createName, earliest], async (c, p, ct) =>
        {
            var topic = p.GetValue(createTopic)!;
            var request = new SubscriptionRequest { Topic = topic, Subscription = p.GetValue(createName), Earliest = p.GetValue(earliest) };
            await (await c.OwnerAsync(topic, ct)).CreateSubscriptionAsync(request, cancellationToken: ct);
            return Ok(p);
        }));
        var deleteTopic = TopicArgument();
        var deleteName = SubscriptionOption();
        group.Subcommands.Add(Leaf("delete", "Delete a subscription (no consumer may be connected)", [deleteTopic, deleteName], async (c, p, ct) =>
        {
            var topic = p.GetValue(deleteTopic)!;
            await (await c.OwnerAsync(topic, ct)).DeleteSubscriptionAsync(new SubscriptionRequest { Topic = topic, Subscription = p.GetValue(deleteName) }, cancellationToken: ct);
            return Ok(p);
        }));
        var resetTopic = TopicArgument();
        var resetName = SubscriptionOption();
        var publishTime = new Option<string?>("--time") { Description = "First message published at or after this time (ISO 8601 or Unix milliseconds)" };
        var messageId = new Option<string?>("--message-id") { Description = "ledgerId:entryId of the next message to deliver" };
        group.Subcommands.Add(Leaf("reset-cursor", "Move a subscription to a time or message", [resetTopic, resetName, publishTime, messageId], async (c, p, ct) =>
        {
            var topic = p.GetValue(resetTopic)!;
            var request = new ResetCursorRequest { Topic = topic, Subscription = p.GetValue(resetName) };
            if (p.GetValue(messageId) is { } id) request.MessageId = id;
            else if (p.GetValue(publishTime) is { } t) request.PublishTimeMillis = ParseTime(t);
            else throw new ArgumentException("give --time or --message-id");
            await (await c.OwnerAsync(topic, ct)).ResetCursorAsync(request, cancellationToken: ct);
            return Ok(p);
        }));
        var skipTopic = TopicArgument();
        var skipName = SubscriptionOption();
        var count = new Option<long>("--count", "-n") { Required = true };
        group.Subcommands.Add(Leaf("skip", "Acknowledge the next N messages of a subscription", [skipTopic, skipName, count], async (c, p, ct) =>
        {
            var topic = p.GetValue(skipTopic)!;
            var answer = await (await c.OwnerAsync(topic, ct)).SkipMessagesAsync(new SkipMessagesRequest
            {
                Topic = topic, Subscription = p.GetValue(skipName), Count = p.GetValue(count),
            }, cancellationToken: ct);
            return Print(p, new { skipped = answer.Skipped });
        }));
        return group;
    }
}
