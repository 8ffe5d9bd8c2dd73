using System.Reflection;
using System.Runtime.CompilerServices;
using System.Text;
using Xunit;

namespace DistEmbed.Facade.Tests;

/// <summary>
/// The public API of the DistEmbed, DistEmbed.Core and DistEmbed.Verification assemblies as sorted, stable text, compared with the committed
/// snapshot <c>tests/Facade.Tests/api/public-api.txt</c>, and the rule that the C# facade exposes no F# types.
/// </summary>
public sealed class ApiSurfaceTests
{
    internal const string AcceptVariable = "DISTEMBED_ACCEPT_API";
    private const string AcceptCommand =
        "DISTEMBED_ACCEPT_API=1 dotnet test tests/Facade.Tests -c Release --filter ApiSurface";

    internal static readonly Assembly[] Assemblies =
        [typeof(ArrayDistances).Assembly, typeof(Core.IDistance).Assembly, typeof(Verification.Laws).Assembly];

    [Fact]
    public void ApiSurfaceMatchesTheSnapshot()
    {
        var actual = ApiText.Describe(Assemblies);
        var committed = Path.Combine(AppContext.BaseDirectory, "api", "public-api.txt");
        if (Environment.GetEnvironmentVariable(AcceptVariable) == "1")
        {
            var source = Path.Combine(SourceDirectory(), "api", "public-api.txt");
            Directory.CreateDirectory(Path.GetDirectoryName(source)!);
            File.WriteAllText(source, actual);
            return;
        }
        Assert.True(File.Exists(committed), $"no API snapshot at {committed}; create it with: {AcceptCommand}");
        var expected = File.ReadAllText(committed).ReplaceLineEndings("\n");
        if (expected == actual) return;
        var expectedLines = expected.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        var actualLines = actual.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        var removed = expectedLines.Except(actualLines, StringComparer.Ordinal).Select(l => "- " + l);
        var added = actualLines.Except(expectedLines, StringComparer.Ordinal).Select(l => "+ " + l);
        Assert.Fail(
            "The public API differs from tests/Facade.Tests/api/public-api.txt (- removed, + added):\n"
            + string.Join("\n", removed.Concat(added))
            + $"\nIf the change is intended, accept it with: {AcceptCommand}  (then commit the file).");
    }

    [Fact]
    public void ApiSurfaceTextIsSortedAndNamesEveryPublicType()
    {
        var lines = ApiText.Describe(Assemblies).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(lines.Order(StringComparer.Ordinal), lines);
        Assert.Equal(lines.Length, lines.Distinct(StringComparer.Ordinal).Count());
        Assert.Contains(lines, l => l.StartsWith("DistEmbed.ArrayDistances: static method System.Double[,] Pairwise(System.Single[,,] a, ", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.StartsWith("DistEmbed.Core.IDistance: type interface", StringComparison.Ordinal));
    }

    [Fact]
    public void FacadeExposesNoFSharpTypes()
    {
        var offenders = FSharpTypes.InPublicSignatures(typeof(ArrayDistances).Assembly, referenceTuples: true);
        Assert.True(offenders.Count == 0,
            "The C# facade (assembly DistEmbed) must not expose F# types (FSharpList, FSharpOption, FSharpFunc, FSharpMap, Unit, "
            + "System.Tuple); use arrays, IReadOnlyList, nullable, delegates or value tuples instead:\n" + string.Join("\n", offenders));
    }

    [Fact]
    public void FacadeSignaturesNameOnlyFacadeTorchSharpAndBclTypes()
    {
        // A C# user works with `using DistEmbed;` and the facade's capability namespaces only: no public signature of
        // the DistEmbed assembly (obsolete members aside) may name a type of the F# core (DistEmbed.Core) or FSharp.Core.
        var offenders = ForeignTypes.InPublicSignatures(typeof(ArrayDistances).Assembly,
            [typeof(Core.IDistance).Assembly, typeof(Microsoft.FSharp.Core.Unit).Assembly]);
        Assert.True(offenders.Count == 0,
            $"{offenders.Count} public facade signature(s) name a DistEmbed.Core or FSharp.Core type; wrap them in facade types "
            + "(EmbeddingBatch, Distance, DistanceSettings, …):\n" + string.Join("\n", offenders));
    }

    [Fact]
    public void TheForeignTypeCheckFindsCoreTypesInSignaturesBasesAndGenericArguments()
    {
        var core = typeof(Core.IDistance).Assembly;
        Assert.True(ForeignTypes.Mentions(typeof(List<Core.IEmbeddingBatch>[]), [core]));
        Assert.True(ForeignTypes.Mentions(typeof(TorchSharp.torch.nn.Module<TorchSharp.torch.Tensor, Core.IEmbeddingBatch>), [core]));
        Assert.False(ForeignTypes.Mentions(typeof(TorchSharp.torch.nn.Module<TorchSharp.torch.Tensor, EmbeddingBatch>), [core]));
        // The verification kit names facade types in parameters, base types and generic arguments: with the facade taken
        // as foreign, the check reports each kind of mention.
        var offenders = ForeignTypes.InPublicSignatures(typeof(Verification.Laws).Assembly, [typeof(EmbeddingBatch).Assembly]);
        Assert.Contains(offenders, o => o.Contains("Declared(DistEmbed.Distance distance", StringComparison.Ordinal));
        Assert.Contains("DistEmbed.Verification.DelegateDistance: inherits DistEmbed.CustomDistance", offenders);
        Assert.Contains(offenders, o => o.Contains("FsCheck.Gen<DistEmbed.EmbeddingBatch> VectorBatches(", StringComparison.Ordinal));
    }

    [Fact]
    public void VerificationKitSignaturesNameOnlyFacadeFsCheckTorchSharpAndBclTypes()
    {
        // A C# user verifies catalog distances and their own with `using DistEmbed;` and `using DistEmbed.Verification;`:
        // no public signature of the kit (obsolete members aside) may name a DistEmbed.Core or FSharp.Core type; FsCheck's
        // Gen and Arbitrary are the property-testing library it is built on and stay.
        var offenders = ForeignTypes.InPublicSignatures(typeof(Verification.Laws).Assembly,
            [typeof(Core.IDistance).Assembly, typeof(Microsoft.FSharp.Core.Unit).Assembly]);
        Assert.True(offenders.Count == 0,
            $"{offenders.Count} public signature(s) of DistEmbed.Verification name a DistEmbed.Core or FSharp.Core type; use the facade's "
            + "(Distance, CustomDistance, EmbeddingBatch, Representation, ConvexGenerator):\n" + string.Join("\n", offenders));
    }

    [Fact]
    public void VerificationKitExposesNoFSharpTypes()
    {
        var offenders = FSharpTypes.InPublicSignatures(typeof(Verification.Laws).Assembly, referenceTuples: true);
        Assert.True(offenders.Count == 0,
            "DistEmbed.Verification is called from C# tests: its public signatures must not expose F# types:\n" + string.Join("\n", offenders));
    }

    [Fact]
    public void CoreExposesNoFSharpTypes()
    {
        var offenders = FSharpTypes.InPublicSignatures(typeof(Core.IDistance).Assembly, referenceTuples: false);
        Assert.True(offenders.Count == 0,
            "DistEmbed.Core must not expose FSharp.Core types in its public signatures (STYLE: no F# options, lists, unit or curried functions):\n"
            + string.Join("\n", offenders));
    }

    [Fact]
    public void TheFSharpTypeCheckFindsAnFSharpType()
    {
        var offenders = FSharpTypes.InPublicSignatures(typeof(Microsoft.FSharp.Core.FSharpOption<>).Assembly, referenceTuples: true);
        Assert.Contains(offenders, o => o.Contains("Microsoft.FSharp.Collections.FSharpList", StringComparison.Ordinal));
        Assert.True(FSharpTypes.IsFSharp(typeof(Tuple<int, string>), referenceTuples: true));
        Assert.False(FSharpTypes.IsFSharp(typeof(Tuple<int, string>), referenceTuples: false));
        Assert.True(FSharpTypes.IsFSharp(typeof(Func<Microsoft.FSharp.Core.Unit, int>), referenceTuples: false));
        Assert.True(FSharpTypes.IsFSharp(typeof(Microsoft.FSharp.Core.FSharpOption<int>[]), referenceTuples: false));
        Assert.False(FSharpTypes.IsFSharp(typeof(ValueTuple<float[,,], float[,]>), referenceTuples: true));
        Assert.False(FSharpTypes.IsFSharp(typeof(IReadOnlyList<Core.IDistance>), referenceTuples: true));
    }

    [Fact]
    public void FSharpDebugHelpersAreLeftOutButGeneratedRecordMembersStayIn()
    {
        // What an F# Debug build (no optimisation) emits for each use of an FSharp.Core inline function: a public
        // static [CompilerGenerated] method named like "<sum>__debug@83". Built here with Reflection.Emit, because a
        // Release build of DistEmbed.Core has none.
        var module = System.Reflection.Emit.AssemblyBuilder
            .DefineDynamicAssembly(new AssemblyName("FSharpDebugHelpers"), System.Reflection.Emit.AssemblyBuilderAccess.Run)
            .DefineDynamicModule("FSharpDebugHelpers");
        var builder = module.DefineType("Helpers", TypeAttributes.Public | TypeAttributes.Abstract | TypeAttributes.Sealed);
        var method = builder.DefineMethod("<sum>__debug@83", MethodAttributes.Public | MethodAttributes.Static, typeof(double), [typeof(double[])]);
        method.SetCustomAttribute(new System.Reflection.Emit.CustomAttributeBuilder(typeof(CompilerGeneratedAttribute).GetConstructor(Type.EmptyTypes)!, []));
        var il = method.GetILGenerator();
        il.Emit(System.Reflection.Emit.OpCodes.Ldc_R8, 0.0);
        il.Emit(System.Reflection.Emit.OpCodes.Ret);
        var helpers = builder.CreateType();
        Assert.True(ApiText.IsCompilerGenerated(helpers.GetMethod("<sum>__debug@83")!));
        Assert.DoesNotContain(ApiText.Members(helpers), m => m.Kind == "method");

        // A C# record's Equals and <Clone>$ are [CompilerGenerated] too, but they are real API and stay in.
        var equals = typeof(GeneratedEquality).GetMethod(nameof(Equals), [typeof(GeneratedEquality)])!;
        var clone = typeof(GeneratedEquality).GetMethod("<Clone>$")!;
        Assert.True(equals.IsDefined(typeof(CompilerGeneratedAttribute), inherit: false));
        Assert.True(clone.IsDefined(typeof(CompilerGeneratedAttribute), inherit: false));
        Assert.False(ApiText.IsCompilerGenerated(equals));
        Assert.False(ApiText.IsCompilerGenerated(clone));
        Assert.Contains(ApiText.Members(typeof(GeneratedEquality)), m => m.Member == clone);
    }

    public sealed record GeneratedEquality(int Value);

    private static string SourceDirectory([CallerFilePath] string path = "") => Path.GetDirectoryName(path)!;
}

/// <summary>Public types and members as one sorted line each: "Type.FullName: kind signature".</summary>
internal static class ApiText
{
    private const BindingFlags Declared =
        BindingFlags.Public | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly;

    public static string Describe(IEnumerable<Assembly> assemblies)
    {
        var lines = new List<string>();
        foreach (var assembly in assemblies)
            foreach (var type in assembly.GetExportedTypes())
                lines.AddRange(Lines(type));
        lines.Sort(StringComparer.Ordinal);
        var text = new StringBuilder();
        foreach (var line in lines.Distinct(StringComparer.Ordinal)) text.Append(line).Append('\n');
        return text.ToString();
    }

    public static IEnumerable<(string Kind, MemberInfo Member, string Signature)> Members(Type type)
    {
        var nullability = new NullabilityInfoContext();
        foreach (var c in type.GetConstructors(Declared))
            yield return ("constructor", c, $"{Modifiers(c)}constructor ({Parameters(c, nullability)})");
        foreach (var m in type.GetMethods(Declared))
        {
            if (m.IsSpecialName && !m.Name.StartsWith("op_", StringComparison.Ordinal)) continue;
            if (IsCompilerGenerated(m)) continue;
            var generic = m.IsGenericMethodDefinition ? "<" + string.Join(", ", m.GetGenericArguments().Select(a => a.Name)) + ">" : "";
            yield return ("method", m,
                $"{Modifiers(m)}method {Nullable(m.ReturnType, () => nullability.Create(m.ReturnParameter))} {m.Name}{generic}({Parameters(m, nullability)})");
        }
        foreach (var p in type.GetProperties(Declared))
        {
            var accessors = (p.GetMethod is { IsPublic: true } ? "get; " : "") + (p.SetMethod is { IsPublic: true } ? Setter(p.SetMethod) : "");
            var getter = p.GetMethod is { IsPublic: true } ? p.GetMethod : p.SetMethod!;
            var index = p.GetIndexParameters();
            var indexer = index.Length == 0 ? "" : "[" + string.Join(", ", index.Select(i => $"{Name(i.ParameterType)} {i.Name}")) + "]";
            yield return ("property", p,
                $"{Modifiers(getter)}property {Nullable(p.PropertyType, () => nullability.Create(p))} {p.Name}{indexer} {{ {accessors}}}");
        }
        foreach (var f in type.GetFields(Declared))
        {
            if (type.IsEnum && f.IsSpecialName) continue;
            var value = f.IsLiteral ? " = " + Literal(f.GetRawConstantValue()) : "";
            yield return ("field", f,
                $"{(f.IsStatic && !f.IsLiteral ? "static " : "")}{(f.IsLiteral ? "const " : f.IsInitOnly ? "readonly " : "")}field {Nullable(f.FieldType, () => nullability.Create(f))} {f.Name}{value}");
        }
        foreach (var e in type.GetEvents(Declared))
            yield return ("event", e, $"event {Name(e.EventHandlerType!)} {e.Name}");
    }

    /// <summary>Whether <paramref name="member"/> is an F# compiler-generated helper (an '@' in its name), such as the
    /// <c>&lt;sum&gt;__debug@83</c> copies of FSharp.Core's inline functions that F# Debug builds (no optimisation) emit
    /// as public static methods. They are not part of the API: Release builds have none, and the snapshot must be the
    /// same in both configurations. Other [CompilerGenerated] members are real API and stay in: F#'s
    /// Equals/CompareTo/GetHashCode, C# records' Equals and &lt;Clone&gt;$.</summary>
    internal static bool IsCompilerGenerated(MemberInfo member) =>
        member.IsDefined(typeof(CompilerGeneratedAttribute), inherit: false) && member.Name.Contains('@');

    private static IEnumerable<string> Lines(Type type)
    {
        var name = Name(type);
        yield return $"{name}: type {TypeHeader(type)}";
        foreach (var (_, _, signature) in Members(type)) yield return $"{name}: {signature}";
    }

    private static string TypeHeader(Type type)
    {
        string kind;
        if (type.IsInterface) kind = "interface";
        else if (type.IsEnum) kind = "enum " + Name(Enum.GetUnderlyingType(type));
        else if (typeof(Delegate).IsAssignableFrom(type)) kind = "delegate";
        else if (type.IsValueType) kind = "struct";
        else if (type.IsAbstract && type.IsSealed) kind = "static class";
        else kind = (type.IsAbstract ? "abstract " : type.IsSealed ? "sealed " : "") + "class";
        var bases = new List<string>();
        if (type.BaseType is { } b && b != typeof(object) && b != typeof(ValueType) && b != typeof(Enum) && !typeof(Delegate).IsAssignableFrom(type))
            bases.Add(Name(b));
        bases.AddRange(type.GetInterfaces().Select(Name).Order(StringComparer.Ordinal));
        return kind + (bases.Count == 0 ? "" : " : " + string.Join(", ", bases));
    }

    private static string Setter(MethodInfo setter) =>
        setter.ReturnParameter.GetRequiredCustomModifiers().Any(m => m.FullName == "System.Runtime.CompilerServices.IsExternalInit") ? "init; " : "set; ";

    private static string Modifiers(MethodBase m)
    {
        if (m.IsStatic) return "static ";
        if (m.IsAbstract) return "abstract ";
        if (m.IsVirtual && !m.IsFinal && m is MethodInfo mi && mi.GetBaseDefinition() == mi && !m.DeclaringType!.IsInterface) return "virtual ";
        if (m.IsVirtual && m is MethodInfo o && o.GetBaseDefinition() != o) return "override ";
        return "";
    }

    private static string Parameters(MethodBase m, NullabilityInfoContext nullability) =>
        string.Join(", ", m.GetParameters().Select(p =>
        {
            var type = p.ParameterType;
            var prefix = type.IsByRef ? (p.IsOut ? "out " : p.IsIn ? "in " : "ref ") : "";
            var shown = type.IsByRef ? Name(type.GetElementType()!) : Nullable(type, () => nullability.Create(p));
            var isParams = p.GetCustomAttribute<ParamArrayAttribute>() is not null ? "params " : "";
            var optional = p.HasDefaultValue ? " = " + Literal(p.RawDefaultValue) : p.IsOptional ? " = ?" : "";
            return $"{isParams}{prefix}{shown} {p.Name}{optional}";
        }));

    private static string Nullable(Type type, Func<NullabilityInfo> info)
    {
        if (type.IsValueType || type.IsGenericParameter) return Name(type);
        try { return Name(type) + (info().ReadState == NullabilityState.Nullable ? "?" : ""); }
        catch (NotSupportedException) { return Name(type); }
    }

    private static string Literal(object? value) => value switch
    {
        null => "null",
        string s => "\"" + s + "\"",
        bool b => b ? "true" : "false",
        IFormattable f => f.ToString(null, System.Globalization.CultureInfo.InvariantCulture),
        _ => value.ToString() ?? "",
    };

    public static string Name(Type type)
    {
        if (type.IsGenericParameter) return type.Name;
        if (type.IsByRef) return Name(type.GetElementType()!) + "&";
        if (type.IsPointer) return Name(type.GetElementType()!) + "*";
        if (type.IsArray)
            return Name(type.GetElementType()!) + "[" + new string(',', type.GetArrayRank() - 1) + "]";
        if (System.Nullable.GetUnderlyingType(type) is { } underlying) return Name(underlying) + "?";
        var name = type.IsNested ? Name(type.DeclaringType!) + "+" + type.Name : (type.Namespace is null ? "" : type.Namespace + ".") + type.Name;
        if (!type.IsGenericType) return name;
        var tick = name.LastIndexOf('`');
        if (tick >= 0 && tick > name.LastIndexOf('+')) name = name[..tick];
        var args = type.GetGenericArguments();
        if (type.IsNested && type.DeclaringType!.IsGenericType)
            args = args.Skip(type.DeclaringType.GetGenericArguments().Length).ToArray();
        return args.Length == 0 ? name : name + "<" + string.Join(", ", args.Select(Name)) + ">";
    }
}

/// <summary>Finds types of given assemblies in the public signatures (members, base types, interfaces) of another;
/// members and types marked [Obsolete] are left out.</summary>
internal static class ForeignTypes
{
    public static bool Mentions(Type type, IReadOnlyCollection<Assembly> foreign)
    {
        if (type.HasElementType) return Mentions(type.GetElementType()!, foreign);
        if (type.IsGenericParameter) return false;
        if (foreign.Contains(type.Assembly)) return true;
        return type.IsGenericType && type.GetGenericArguments().Any(t => Mentions(t, foreign));
    }

    public static List<string> InPublicSignatures(Assembly assembly, IReadOnlyCollection<Assembly> foreign)
    {
        var offenders = new List<string>();
        foreach (var type in assembly.GetExportedTypes())
        {
            if (type.IsDefined(typeof(ObsoleteAttribute), inherit: false)) continue;
            var name = ApiText.Name(type);
            foreach (var t in (type.BaseType is null ? [] : new[] { type.BaseType }).Concat(type.GetInterfaces()))
                if (Mentions(t, foreign)) offenders.Add($"{name}: inherits {ApiText.Name(t)}");
            foreach (var (_, member, signature) in ApiText.Members(type))
            {
                if (member.IsDefined(typeof(ObsoleteAttribute), inherit: false)) continue;
                if (Signature(member).Any(t => Mentions(t, foreign))) offenders.Add($"{name}: {signature}");
            }
        }
        offenders.Sort(StringComparer.Ordinal);
        return offenders;
    }

    internal static IEnumerable<Type> Signature(MemberInfo member) => member switch
    {
        MethodInfo m => m.GetParameters().Select(p => p.ParameterType).Append(m.ReturnType),
        ConstructorInfo c => c.GetParameters().Select(p => p.ParameterType),
        PropertyInfo p => p.GetIndexParameters().Select(i => i.ParameterType).Append(p.PropertyType),
        FieldInfo f => [f.FieldType],
        EventInfo e => [e.EventHandlerType!],
        _ => [],
    };
}

/// <summary>Finds F# types (FSharp.Core's, and the reference tuples F# uses) in public signatures.</summary>
internal static class FSharpTypes
{
    private static readonly Assembly FSharpCore = typeof(Microsoft.FSharp.Core.Unit).Assembly;

    /// <summary>Whether <paramref name="type"/> is or contains an FSharp.Core type (and, with
    /// <paramref name="referenceTuples"/>, a System.Tuple, which is what F# tuples compile to).</summary>
    public static bool IsFSharp(Type type, bool referenceTuples)
    {
        if (type.HasElementType) return IsFSharp(type.GetElementType()!, referenceTuples);
        if (type.IsGenericParameter) return false;
        if (type.Assembly == FSharpCore) return true;
        if (referenceTuples && type.IsGenericType && type.GetGenericTypeDefinition().FullName is { } n
            && n.StartsWith("System.Tuple`", StringComparison.Ordinal)) return true;
        return type.IsGenericType && type.GetGenericArguments().Any(t => IsFSharp(t, referenceTuples));
    }

    public static List<string> InPublicSignatures(Assembly assembly, bool referenceTuples)
    {
        var offenders = new List<string>();
        foreach (var type in assembly.GetExportedTypes())
        {
            var name = ApiText.Name(type);
            if (type.Assembly == FSharpCore)
            {
                offenders.Add($"{name}: the type itself");
                continue;
            }
            foreach (var t in (type.BaseType is null ? [] : new[] { type.BaseType }).Concat(type.GetInterfaces()))
                if (IsFSharp(t, referenceTuples)) offenders.Add($"{name}: inherits {ApiText.Name(t)}");
            foreach (var (_, member, signature) in ApiText.Members(type))
                if (Types(member).Any(t => IsFSharp(t, referenceTuples))) offenders.Add($"{name}: {signature}");
        }
        offenders.Sort(StringComparer.Ordinal);
        return offenders;
    }

    private static IEnumerable<Type> Types(MemberInfo member) => member switch
    {
        MethodInfo m => m.GetParameters().Select(p => p.ParameterType).Append(m.ReturnType),
        ConstructorInfo c => c.GetParameters().Select(p => p.ParameterType),
        PropertyInfo p => p.GetIndexParameters().Select(i => i.ParameterType).Append(p.PropertyType),
        FieldInfo f => [f.FieldType],
        EventInfo e => [e.EventHandlerType!],
        _ => [],
    };
}
