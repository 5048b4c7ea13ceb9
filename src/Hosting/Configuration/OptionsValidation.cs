using System.ComponentModel.DataAnnotations;
using System.Reflection;
using Microsoft.Extensions.Options;
using Pulsarish.Bookie;
using Pulsarish.Bookie.Storage;
using Pulsarish.Broker;
using Pulsarish.Metadata;

namespace Pulsarish.Hosting.Configuration;

/// <summary>
/// Start-up validation of a bound options object, with every failure naming its configuration key
/// (<c>Broker:ManagedLedgerDefaultAckQuorum must be between 1 and 1024, was 0</c>). In order, and stopping at the first
/// step that fails: the data annotations of the options class (<c>[Range]</c>, <c>[Required]</c>, …); the
/// <see cref="IValidateOptions{TOptions}"/> validators and cross-key rules below (BookieOptionsValidator,
/// StorageOptionsValidator, the broker's quorums); the class's own <c>Validate()</c> method, if it has one.
/// </summary>
public static class OptionsValidation
{
    /// <summary>The failures of <paramref name="options"/> bound from <paramref name="section"/>; empty when valid.</summary>
    public static List<string> Validate(string section, object options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var failures = Annotations(section, options);
        if (failures.Count == 0)
        {
            failures.AddRange(Rules(section, options));
        }

        if (failures.Count == 0)
        {
            failures.AddRange(OwnValidate(section, options));
        }

        return failures;
    }

    private static List<string> Annotations(string section, object options)
    {
        var failures = new List<string>();
        foreach (var property in options.GetType().GetProperties(BindingFlags.Public | BindingFlags.Instance))
        {
            string key = $"{section}:{property.Name}";
            object? value = null;
            foreach (var attribute in property.GetCustomAttributes<ValidationAttribute>())
            {
                value ??= property.GetValue(options);
                if (attribute.IsValid(value))
                {
                    continue;
                }

                failures.Add(attribute switch
                {
                    RangeAttribute range => $"{key} must be between {range.Minimum} and {range.Maximum}, was {Format(value)}",
                    RequiredAttribute => $"{key} is required",
                    RegularExpressionAttribute regex => $"{key} must match {regex.Pattern}, was {Format(value)}",
                    _ => attribute.FormatErrorMessage(key),
                });
            }
        }

        return failures;
    }

    private static IEnumerable<string> Rules(string section, object options)
    {
        switch (options)
        {
            case BookieOptions bookie:
                return Keyed(section, bookie.GetType(), new BookieOptionsValidator().Validate(section, bookie));
            case StorageOptions storage:
                return Keyed(section, storage.GetType(), new StorageOptionsValidator().Validate(section, storage));
            case BrokerOptions broker:
                return BrokerQuorums(section, broker);
            case StandaloneOptions standalone:
                return StandaloneQuorums(section, standalone);
            case MetadataOptions metadata:
                return MetadataUrl(section, metadata);
            default:
                return [];
        }
    }

    /// <summary>E ≥ Qw ≥ Qa ≥ 1 (DESIGN §2), each failure naming the key that breaks it.</summary>
    private static IEnumerable<string> BrokerQuorums(string section, BrokerOptions o)
    {
        if (o.ManagedLedgerDefaultAckQuorum > o.ManagedLedgerDefaultWriteQuorum)
        {
            yield return $"{section}:{nameof(o.ManagedLedgerDefaultAckQuorum)} must be between 1 and " +
                $"{section}:{nameof(o.ManagedLedgerDefaultWriteQuorum)} ({o.ManagedLedgerDefaultWriteQuorum}), was {o.ManagedLedgerDefaultAckQuorum}";
        }

        if (o.ManagedLedgerDefaultWriteQuorum > o.ManagedLedgerDefaultEnsembleSize)
        {
            yield return $"{section}:{nameof(o.ManagedLedgerDefaultWriteQuorum)} must be between " +
                $"{section}:{nameof(o.ManagedLedgerDefaultAckQuorum)} ({o.ManagedLedgerDefaultAckQuorum}) and " +
                $"{section}:{nameof(o.ManagedLedgerDefaultEnsembleSize)} ({o.ManagedLedgerDefaultEnsembleSize}), was {o.ManagedLedgerDefaultWriteQuorum}";
        }
    }

    /// <summary>Bookies ≥ E ≥ Qw ≥ Qa of public/default.</summary>
    private static IEnumerable<string> StandaloneQuorums(string section, StandaloneOptions o)
    {
        if (o.AckQuorum > o.WriteQuorum)
        {
            yield return $"{section}:{nameof(o.AckQuorum)} must be between 1 and {section}:{nameof(o.WriteQuorum)} ({o.WriteQuorum}), was {o.AckQuorum}";
        }

        if (o.WriteQuorum > o.EnsembleSize)
        {
            yield return $"{section}:{nameof(o.WriteQuorum)} must be at most {section}:{nameof(o.EnsembleSize)} ({o.EnsembleSize}), was {o.WriteQuorum}";
        }

        if (o.EnsembleSize > o.Bookies)
        {
            yield return $"{section}:{nameof(o.EnsembleSize)} must be at most {section}:{nameof(o.Bookies)} ({o.Bookies}), was {o.EnsembleSize}";
        }
    }

    /// <summary>The schemes <see cref="MetadataStoreFactory"/> opens; an empty URL is the caller's to judge.</summary>
    private static IEnumerable<string> MetadataUrl(string section, MetadataOptions o)
    {
        string url = o.Url;
        if (url.Length > 0
            && !url.StartsWith(MetadataStoreFactory.ZooKeeperScheme, StringComparison.OrdinalIgnoreCase)
            && !url.StartsWith(MetadataStoreFactory.EmbeddedScheme, StringComparison.OrdinalIgnoreCase)
            && !url.Equals(MetadataStoreFactory.MemoryScheme, StringComparison.OrdinalIgnoreCase))
        {
            yield return $"{section}:{nameof(o.Url)} must be zk:host:port[,host:port][/chroot], embedded:/dir or memory:, was '{url}'";
        }
    }

    private static IEnumerable<string> OwnValidate(string section, object options)
    {
        var validate = options.GetType().GetMethod("Validate", BindingFlags.Public | BindingFlags.Instance, Type.EmptyTypes);
        if (validate is null)
        {
            return [];
        }

        try
        {
            validate.Invoke(options, null);
            return [];
        }
        catch (TargetInvocationException e) when (e.InnerException is ArgumentException argument)
        {
            // ArgumentException appends " (Parameter 'x')" to its message; the key already names it.
            string message = argument.ParamName is null ? argument.Message : argument.Message.Replace($" (Parameter '{argument.ParamName}')", "");
            return [Keyed(section, options.GetType(), message)];
        }
    }

    private static IEnumerable<string> Keyed(string section, Type type, ValidateOptionsResult result)
        => result.Failed ? result.Failures.Select(f => Keyed(section, type, f)) : [];

    /// <summary>"Port must be …" → "Bookie:Port must be …"; messages that name no property get the section.</summary>
    private static string Keyed(string section, Type type, string message)
    {
        string prefix = type.Name + ".";
        if (message.StartsWith(prefix, StringComparison.Ordinal))
        {
            message = message[prefix.Length..];
        }

        foreach (var property in type.GetProperties(BindingFlags.Public | BindingFlags.Instance).OrderByDescending(p => p.Name.Length))
        {
            if (message.StartsWith(property.Name + " ", StringComparison.Ordinal))
            {
                return $"{section}:{message}";
            }
        }

        return $"{section}: {message}";
    }

    private static string Format(object? value) => value switch
    {
        null => "null",
        string s => $"'{s}'",
        IFormattable f => f.ToString(null, System.Globalization.CultureInfo.InvariantCulture),
        _ => value.ToString() ?? "",
    };
}
