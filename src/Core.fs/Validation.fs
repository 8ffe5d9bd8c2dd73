namespace DistEmbed.Core

open System
open TorchSharp

/// <summary>
/// Argument checks shared by every public function. Each check throws an <see cref="T:System.ArgumentException"/>
/// whose <c>ParamName</c> is the offending argument and whose message says what was wrong
/// (the shape, the index of the first bad value, the allowed values).
/// </summary>
[<RequireQualifiedAccess>]
module Validation =

    /// <summary>Throws <see cref="T:System.ArgumentException"/> naming <paramref name="name"/>.</summary>
    let fail (name: string) (message: string) : 'T = raise (ArgumentException(message, name))

    /// <summary>Throws <see cref="T:System.ArgumentNullException"/> when <paramref name="value"/> is null.</summary>
    let notNull (name: string) (value: 'T) =
        if isNull (box value) then
            raise (ArgumentNullException(name, $"{name} must not be null."))

    /// <summary>Checks that every element of a vector is finite (no NaN, no ±Inf).</summary>
    let finite (name: string) (values: float[]) =
        notNull name values
        for i in 0 .. values.Length - 1 do
            let v = values.[i]
            if Double.IsNaN v then fail name $"{name}[{i}] is NaN; all values must be finite."
            elif Double.IsInfinity v then fail name $"{name}[{i}] is {v}; all values must be finite."

    /// <summary>Checks that every element of a matrix is finite (no NaN, no ±Inf).</summary>
    let finite2D (name: string) (values: float[,]) =
        notNull name values
        for i in 0 .. Array2D.length1 values - 1 do
            for j in 0 .. Array2D.length2 values - 1 do
                let v = values.[i, j]
                if Double.IsNaN v then fail name $"{name}[{i},{j}] is NaN; all values must be finite."
                elif Double.IsInfinity v then fail name $"{name}[{i},{j}] is {v}; all values must be finite."

    /// <summary>Checks that a vector is not empty.</summary>
    let nonEmpty (name: string) (values: 'T[]) =
        notNull name values
        if values.Length = 0 then fail name $"{name} is empty; at least one element is required."

    /// <summary>Checks that two lengths agree (for example a distribution's points and its weights).</summary>
    let sameLength (name: string) (expected: int) (actual: int) (what: string) =
        if expected <> actual then
            fail name $"{name} has length {actual} but {what} has length {expected}; they must match."

    /// <summary>
    /// Checks a weight vector: finite, non-negative, not all zero. Returns the weights normalised to sum to one.
    /// </summary>
    let weights (name: string) (values: float[]) : float[] =
        finite name values
        nonEmpty name values
        let mutable total = 0.0
        for i in 0 .. values.Length - 1 do
            if values.[i] < 0.0 then
                fail name $"{name}[{i}] = {values.[i]} is negative; weights must be non-negative."
            total <- total + values.[i]
        if total <= 0.0 then fail name $"{name} are all zero; at least one weight must be positive."
        values |> Array.map (fun w -> w / total)

    /// Checks a discrete transport problem: cost not null, both weight vectors as for <c>weights</c>, cost of shape
    /// a.Length × b.Length with finite entries. Returns the normalised weights (a, b).
    let internal transportProblem (cost: float[,]) (a: float[]) (b: float[]) : float[] * float[] =
        notNull "cost" cost
        let a = weights "a" a
        let b = weights "b" b
        let n, m = a.Length, b.Length
        if Array2D.length1 cost <> n || Array2D.length2 cost <> m then
            fail
                "cost"
                $"cost has shape [{Array2D.length1 cost},{Array2D.length2 cost}] but a has length {n} and b has length {m}; cost must be {n} × {m}."
        finite2D "cost" cost
        a, b

    /// <summary>Checks that a real parameter lies in [lower, ∞) and is finite.</summary>
    let atLeast (name: string) (lower: float) (value: float) =
        if Double.IsNaN value || Double.IsInfinity value || value < lower then
            fail name $"{name} = {value} is invalid; it must be a finite number ≥ {lower}."

    /// <summary>Checks that a real parameter is finite and strictly positive.</summary>
    let positive (name: string) (value: float) =
        if Double.IsNaN value || Double.IsInfinity value || value <= 0.0 then
            fail name $"{name} = {value} is invalid; it must be a finite number > 0."

    /// <summary>Checks that an integer parameter is at least <paramref name="lower"/>.</summary>
    let atLeastInt (name: string) (lower: int) (value: int) =
        if value < lower then fail name $"{name} = {value} is invalid; it must be ≥ {lower}."

    /// Checks a marginal relaxation ρ of unbalanced transport: a number &gt; 0, +∞ allowed (balanced marginals).
    let internal relaxation (name: string) (rho: float) =
        if Double.IsNaN rho || rho <= 0.0 then
            fail name $"{name} = {rho} is invalid; the marginal relaxation ρ must be > 0 (+∞ gives balanced transport)."

    /// Checks that the second argument b lives in the space of the first, a (names b).
    let internal sameDimension (aDimension: int) (bDimension: int) =
        if bDimension <> aDimension then
            fail "b" $"b has dimension d = {bDimension} but a has d = {aDimension}; both must live in one space."

    /// Checks two arguments a and b compared with each other: neither null, b in the space of a.
    let internal comparable (a: 'T) (b: 'T) (dimension: 'T -> int) =
        notNull "a" a
        notNull "b" b
        sameDimension (dimension a) (dimension b)

    /// Checks a symmetric matrix argument: not null, size × size (sizeSource says where size comes from), finite, and
    /// symmetric to tolerance × its largest |entry| (why says what needs the symmetry).
    let internal symmetricMatrix (name: string) (m: float[,]) (size: int) (sizeSource: string) (tolerance: float) (why: string) =
        notNull name m
        let rows, columns = Array2D.length1 m, Array2D.length2 m
        if rows <> size || columns <> size then
            fail name $"{name} has shape [{rows},{columns}]; it must be {size} × {size} ({sizeSource})."
        finite2D name m
        let mutable largest = 0.0
        m |> Array2D.iter (fun x -> largest <- max largest (abs x))
        for i in 0 .. size - 1 do
            for j in i + 1 .. size - 1 do
                if abs (m.[i, j] - m.[j, i]) > tolerance * largest then
                    fail name $"{name} is not symmetric: {name}[{i},{j}] = {m.[i, j]:R} but {name}[{j},{i}] = {m.[j, i]:R}; {why}."

    // ----------------------------------------------------------------------------------------------------------------
    // Tensor arguments (the same messages as the array checks above)

    /// The multi-index of the first true element of a boolean tensor, or None.
    let internal firstTrue (mask: torch.Tensor) : int64[] option =
        use _ = torch.NewDisposeScope()
        let flat = mask.flatten().nonzero()
        if flat.shape.[0] = 0L then None
        else
            let mutable rest = flat.[0L].[0L].ToInt64()
            let shape = mask.shape
            let idx = Array.zeroCreate<int64> shape.Length
            for k in shape.Length - 1 .. -1 .. 0 do
                idx.[k] <- rest % shape.[k]
                rest <- rest / shape.[k]
            Some idx

    /// Checks that every element of a tensor is finite (no NaN, no ±Inf); the message gives the multi-index of the first bad one.
    let internal finiteTensor (name: string) (t: torch.Tensor) =
        use _ = torch.NewDisposeScope()
        match firstTrue (torch.logical_not(torch.isfinite t)) with
        | Some idx ->
            let v = t.flatten().[(Array.fold2 (fun acc i s -> acc * s + i) 0L idx t.shape)].to_type(torch.float64).item<float>()
            let where = String.Join(",", idx)
            fail name $"{name}[{where}] is {v}; all values must be finite."
        | None -> ()

    /// Device equality by type and index (torch.Device has reference equality only).
    let internal sameDevice (x: torch.Device) (y: torch.Device) = x.``type`` = y.``type`` && x.index = y.index

    /// A tensor's shape as text, [d0,d1,…].
    let internal shape (t: torch.Tensor) = "[" + String.Join(",", t.shape) + "]"

    /// Checks that a tensor has a floating dtype (float32 or float64).
    let internal floating (name: string) (t: torch.Tensor) =
        if t.dtype <> torch.float32 && t.dtype <> torch.float64 then
            fail name $"{name} has dtype {t.dtype}; float32 or float64 is required."
