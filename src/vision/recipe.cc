#include "vision/recipe.h"

#include <yaml-cpp/yaml.h>

#include <cctype>
#include <cmath>
#include <initializer_list>
#include <set>
#include <utility>

#include "core/file.h"

namespace orbit::vision {
namespace {

// Key paths as they appear in messages: "preprocess.normalize.low", "inputs[0].shape".
std::string Join(const std::string& path, std::string_view key) {
  return path.empty() ? std::string(key) : path + "." + std::string(key);
}

template <typename E>
struct Choice {
  std::string_view name;
  E value;
};

// Reads one orbit.yaml document; every error names the source file, the key path and, where
// yaml-cpp knows it, the line.
class RecipeParser {
 public:
  explicit RecipeParser(std::string_view source) : source_(source) {}

  Status Error(const YAML::Node& node, const std::string& reason) const {
    std::string message = source_ + ": " + reason;
    // A missing key's node has no mark (and Mark() would throw on it).
    const YAML::Mark mark = node.IsDefined() ? node.Mark() : YAML::Mark::null_mark();
    if (mark.line >= 0) message += " (line " + std::to_string(mark.line + 1) + ")";
    return InvalidArgumentError(std::move(message));
  }

  // `node` must be a mapping whose keys are all in `allowed`, each at most once.
  Status CheckMapping(const YAML::Node& node, const std::string& path,
                      std::initializer_list<std::string_view> allowed) const {
    if (!node.IsMap()) {
      return Error(node, path.empty() ? "the document must be a mapping"
                                      : "'" + path + "' must be a mapping");
    }
    std::set<std::string> seen;
    for (const auto& entry : node) {
      if (!entry.first.IsScalar()) return Error(entry.first, "keys must be plain strings");
      const std::string key = entry.first.Scalar();
      bool known = false;
      for (std::string_view name : allowed) known = known || name == key;
      if (!known) return Error(entry.first, "unknown key '" + Join(path, key) + "'");
      if (!seen.insert(key).second) {
        return Error(entry.first, "duplicate key '" + Join(path, key) + "'");
      }
    }
    return Status::Ok();
  }

  Result<std::string> String(const YAML::Node& node, const std::string& path) const {
    if (!node.IsScalar()) return Error(node, "'" + path + "' must be a string");
    return node.Scalar();
  }

  Result<double> Number(const YAML::Node& node, const std::string& path) const {
    double value = 0;
    if (!node.IsScalar() || !YAML::convert<double>::decode(node, value) || !std::isfinite(value)) {
      return Error(node, "'" + path + "' must be a number");
    }
    return value;
  }

  Result<int> Integer(const YAML::Node& node, const std::string& path) const {
    int value = 0;
    if (!node.IsScalar() || !YAML::convert<int>::decode(node, value)) {
      return Error(node, "'" + path + "' must be an integer");
    }
    return value;
  }

  Result<bool> Boolean(const YAML::Node& node, const std::string& path) const {
    bool value = false;
    if (!node.IsScalar() || !YAML::convert<bool>::decode(node, value)) {
      return Error(node, "'" + path + "' must be true or false");
    }
    return value;
  }

  template <typename E>
  Result<E> OneOf(const YAML::Node& node, const std::string& path,
                  std::initializer_list<Choice<E>> choices) const {
    std::string names;
    if (node.IsScalar()) {
      for (const auto& choice : choices) {
        if (node.Scalar() == choice.name) return choice.value;
      }
    }
    for (const auto& choice : choices) {
      names += (names.empty() ? "" : " | ") + std::string(choice.name);
    }
    const std::string got = node.IsScalar() ? "'" + node.Scalar() + "'" : "not a string";
    return Error(node, "'" + path + "' is " + got + ", expected one of " + names);
  }

  Result<std::vector<double>> Numbers(const YAML::Node& node, const std::string& path) const {
    if (!node.IsSequence()) return Error(node, "'" + path + "' must be a list of numbers");
    std::vector<double> values;
    for (std::size_t i = 0; i < node.size(); ++i) {
      ORBIT_ASSIGN_OR_RETURN(double v, Number(node[i], path + "[" + std::to_string(i) + "]"));
      values.push_back(v);
    }
    return values;
  }

  Result<std::vector<TensorSpec>> Tensors(const YAML::Node& node, const std::string& path) const {
    if (!node.IsSequence() || node.size() == 0) {
      return Error(node, "'" + path + "' must be a non-empty list of tensors");
    }
    std::vector<TensorSpec> specs;
    std::set<std::string> names;
    for (std::size_t i = 0; i < node.size(); ++i) {
      const YAML::Node item = node[i];
      const std::string item_path = path + "[" + std::to_string(i) + "]";
      ORBIT_RETURN_IF_ERROR(CheckMapping(item, item_path, {"name", "datatype", "shape"}));
      for (std::string_view required : {"name", "datatype", "shape"}) {
        if (!item[std::string(required)]) {
          return Error(item, "'" + Join(item_path, required) + "' is required");
        }
      }
      TensorSpec spec;
      ORBIT_ASSIGN_OR_RETURN(spec.name, String(item["name"], Join(item_path, "name")));
      if (spec.name.empty())
        return Error(item["name"], "'" + Join(item_path, "name") + "' is empty");
      if (!names.insert(spec.name).second) {
        return Error(item["name"], "'" + path + "' has two tensors named '" + spec.name + "'");
      }
      ORBIT_ASSIGN_OR_RETURN(const std::string dtype,
                             String(item["datatype"], Join(item_path, "datatype")));
      auto parsed = ParseDType(dtype);
      if (!parsed.ok()) {
        return Error(item["datatype"], "'" + Join(item_path, "datatype") + "' is '" + dtype +
                                           "', not a tensor datatype (FP32, UINT8, ...)");
      }
      spec.dtype = *parsed;
      const YAML::Node shape = item["shape"];
      const std::string shape_path = Join(item_path, "shape");
      if (!shape.IsSequence() || shape.size() == 0) {
        return Error(shape, "'" + shape_path + "' must be a non-empty list of dimensions");
      }
      for (std::size_t d = 0; d < shape.size(); ++d) {
        ORBIT_ASSIGN_OR_RETURN(const int dim,
                               Integer(shape[d], shape_path + "[" + std::to_string(d) + "]"));
        if (dim < -1) {
          return Error(shape[d], "'" + shape_path + "[" + std::to_string(d) +
                                     "]' must be -1 (dynamic) or a size >= 0");
        }
        spec.shape.push_back(dim);
      }
      specs.push_back(std::move(spec));
    }
    return specs;
  }

  Status Normalize(const YAML::Node& node, const std::string& path, int channels,
                   PreprocessRecipe& pre) const {
    ORBIT_RETURN_IF_ERROR(
        CheckMapping(node, path, {"method", "low", "high", "scale", "mean", "std"}));
    if (node["method"]) {
      ORBIT_ASSIGN_OR_RETURN(
          pre.normalize, OneOf<NormalizeMethod>(node["method"], Join(path, "method"),
                                                {{"none", NormalizeMethod::kNone},
                                                 {"scale", NormalizeMethod::kScale},
                                                 {"mean_std", NormalizeMethod::kMeanStd},
                                                 {"percentile", NormalizeMethod::kPercentile}}));
    }
    const std::string method = node["method"] ? node["method"].Scalar() : "percentile";
    // A parameter the chosen method ignores is an error, like an unknown key.
    auto applies = [&](std::string_view key, std::initializer_list<NormalizeMethod> methods) {
      bool ok = false;
      for (NormalizeMethod m : methods) ok = ok || m == pre.normalize;
      if (ok || !node[std::string(key)]) return Status::Ok();
      return Error(node[std::string(key)],
                   "'" + Join(path, key) + "' does not apply to method '" + method + "'");
    };
    ORBIT_RETURN_IF_ERROR(applies("low", {NormalizeMethod::kPercentile}));
    ORBIT_RETURN_IF_ERROR(applies("high", {NormalizeMethod::kPercentile}));
    ORBIT_RETURN_IF_ERROR(applies("scale", {NormalizeMethod::kScale, NormalizeMethod::kMeanStd}));
    ORBIT_RETURN_IF_ERROR(applies("mean", {NormalizeMethod::kMeanStd}));
    ORBIT_RETURN_IF_ERROR(applies("std", {NormalizeMethod::kMeanStd}));

    if (node["low"]) {
      ORBIT_ASSIGN_OR_RETURN(pre.percentile_low, Number(node["low"], Join(path, "low")));
    }
    if (node["high"]) {
      ORBIT_ASSIGN_OR_RETURN(pre.percentile_high, Number(node["high"], Join(path, "high")));
    }
    if (pre.normalize == NormalizeMethod::kPercentile &&
        !(0 <= pre.percentile_low && pre.percentile_low < pre.percentile_high &&
          pre.percentile_high <= 100)) {
      return Error(node, "'" + path + "' percentiles must satisfy 0 <= low < high <= 100 (got " +
                             std::to_string(pre.percentile_low) + " and " +
                             std::to_string(pre.percentile_high) + ")");
    }
    if (node["scale"]) {
      ORBIT_ASSIGN_OR_RETURN(pre.scale, Number(node["scale"], Join(path, "scale")));
      if (pre.scale == 0)
        return Error(node["scale"], "'" + Join(path, "scale") + "' must not be 0");
    }
    if (pre.normalize == NormalizeMethod::kMeanStd) {
      for (std::string_view key : {"mean", "std"}) {
        if (!node[std::string(key)]) {
          return Error(node, "'" + Join(path, key) + "' is required for method 'mean_std'");
        }
      }
      ORBIT_ASSIGN_OR_RETURN(pre.mean, Numbers(node["mean"], Join(path, "mean")));
      ORBIT_ASSIGN_OR_RETURN(pre.std, Numbers(node["std"], Join(path, "std")));
      for (const auto& [key, values] : {std::pair{"mean", &pre.mean}, std::pair{"std", &pre.std}}) {
        if (static_cast<int>(values->size()) != channels) {
          return Error(node[key], "'" + Join(path, key) + "' has " +
                                      std::to_string(values->size()) + " values, expected " +
                                      std::to_string(channels) + " (one per channel)");
        }
      }
      for (double s : pre.std) {
        if (!(s > 0)) return Error(node["std"], "'" + Join(path, "std") + "' values must be > 0");
      }
    }
    return Status::Ok();
  }

  Result<PreprocessRecipe> Preprocess(const YAML::Node& node) const {
    PreprocessRecipe pre;
    if (!node) return pre;
    const std::string path = "preprocess";
    ORBIT_RETURN_IF_ERROR(
        CheckMapping(node, path, {"color", "resize", "pad_to_multiple", "normalize", "layout"}));
    if (node["color"]) {
      ORBIT_ASSIGN_OR_RETURN(pre.color, OneOf<ColorMode>(node["color"], "preprocess.color",
                                                         {{"gray", ColorMode::kGray},
                                                          {"rgb", ColorMode::kRgb},
                                                          {"bgr", ColorMode::kBgr}}));
    }
    const YAML::Node resize = node["resize"];
    if (resize && !resize.IsNull()) {
      if (!resize.IsSequence() || resize.size() != 2) {
        return Error(resize, "'preprocess.resize' must be null or [width, height]");
      }
      ORBIT_ASSIGN_OR_RETURN(const int width, Integer(resize[0], "preprocess.resize[0]"));
      ORBIT_ASSIGN_OR_RETURN(const int height, Integer(resize[1], "preprocess.resize[1]"));
      if (width < 1 || height < 1) {
        return Error(resize, "'preprocess.resize' sizes must be >= 1");
      }
      pre.resize = std::pair{width, height};
    }
    if (node["pad_to_multiple"]) {
      ORBIT_ASSIGN_OR_RETURN(pre.pad_to_multiple,
                             Integer(node["pad_to_multiple"], "preprocess.pad_to_multiple"));
      if (pre.pad_to_multiple < 1) {
        return Error(node["pad_to_multiple"], "'preprocess.pad_to_multiple' must be >= 1");
      }
    }
    if (node["layout"]) {
      ORBIT_ASSIGN_OR_RETURN(pre.channels_first, OneOf<bool>(node["layout"], "preprocess.layout",
                                                             {{"NCHW", true}, {"NHWC", false}}));
    }
    const int channels = pre.color == ColorMode::kGray ? 1 : 3;
    if (node["normalize"]) {
      ORBIT_RETURN_IF_ERROR(Normalize(node["normalize"], "preprocess.normalize", channels, pre));
    }
    return pre;
  }

  Status Postprocess(const YAML::Node& node, PostprocessRecipe& post, TileRecipe& tile) const {
    if (!node) return Status::Ok();
    const std::string path = "postprocess";
    ORBIT_RETURN_IF_ERROR(
        CheckMapping(node, path,
                     {"activation", "threshold", "foreground_channel", "background_class",
                      "min_object_area", "fill_holes", "instances", "tile"}));
    if (node["activation"]) {
      ORBIT_ASSIGN_OR_RETURN(post.activation,
                             OneOf<Activation>(node["activation"], "postprocess.activation",
                                               {{"none", Activation::kNone},
                                                {"sigmoid", Activation::kSigmoid},
                                                {"softmax", Activation::kSoftmax}}));
    }
    if (node["threshold"]) {
      ORBIT_ASSIGN_OR_RETURN(post.threshold, Number(node["threshold"], "postprocess.threshold"));
      if (post.threshold < 0 || post.threshold > 1) {
        return Error(node["threshold"], "'postprocess.threshold' must be in [0, 1]");
      }
    }
    if (node["foreground_channel"]) {
      if (post.activation == Activation::kSoftmax) {
        return Error(node["foreground_channel"],
                     "'postprocess.foreground_channel' does not apply to activation 'softmax' "
                     "(use background_class)");
      }
      ORBIT_ASSIGN_OR_RETURN(post.foreground_channel,
                             Integer(node["foreground_channel"], "postprocess.foreground_channel"));
      if (post.foreground_channel < 0) {
        return Error(node["foreground_channel"], "'postprocess.foreground_channel' must be >= 0");
      }
    }
    if (node["background_class"]) {
      ORBIT_ASSIGN_OR_RETURN(post.background_class,
                             Integer(node["background_class"], "postprocess.background_class"));
      if (post.background_class < 0) {
        return Error(node["background_class"], "'postprocess.background_class' must be >= 0");
      }
    }
    if (node["min_object_area"]) {
      ORBIT_ASSIGN_OR_RETURN(post.min_object_area,
                             Integer(node["min_object_area"], "postprocess.min_object_area"));
      if (post.min_object_area < 0) {
        return Error(node["min_object_area"], "'postprocess.min_object_area' must be >= 0");
      }
    }
    if (node["fill_holes"]) {
      ORBIT_ASSIGN_OR_RETURN(post.fill_holes,
                             Boolean(node["fill_holes"], "postprocess.fill_holes"));
    }
    if (const YAML::Node instances = node["instances"]) {
      ORBIT_RETURN_IF_ERROR(CheckMapping(
          instances, "postprocess.instances",
          {"method", "min_distance", "seed_channel", "seed_threshold", "min_seed_area"}));
      if (instances["method"]) {
        ORBIT_ASSIGN_OR_RETURN(
            post.instances,
            OneOf<InstanceMethod>(instances["method"], "postprocess.instances.method",
                                  {{"none", InstanceMethod::kNone},
                                   {"connected_components", InstanceMethod::kConnectedComponents},
                                   {"watershed", InstanceMethod::kWatershed}}));
      }
      if (instances["min_distance"]) {
        ORBIT_ASSIGN_OR_RETURN(post.min_distance, Integer(instances["min_distance"],
                                                          "postprocess.instances.min_distance"));
        if (post.min_distance < 1) {
          return Error(instances["min_distance"],
                       "'postprocess.instances.min_distance' must be >= 1");
        }
      }
      ORBIT_RETURN_IF_ERROR(Seeds(instances, post));
    }
    if (const YAML::Node t = node["tile"]) {
      ORBIT_RETURN_IF_ERROR(CheckMapping(t, "postprocess.tile", {"size", "overlap"}));
      if (t["size"]) {
        ORBIT_ASSIGN_OR_RETURN(tile.size, Integer(t["size"], "postprocess.tile.size"));
      }
      if (t["overlap"]) {
        ORBIT_ASSIGN_OR_RETURN(tile.overlap, Integer(t["overlap"], "postprocess.tile.overlap"));
      }
      if (tile.overlap < 0) return Error(t, "'postprocess.tile.overlap' must be >= 0");
      if (tile.size < 1 || tile.size <= 2 * tile.overlap) {
        return Error(t, "'postprocess.tile.size' (" + std::to_string(tile.size) +
                            ") must be greater than twice the overlap (" +
                            std::to_string(tile.overlap) + ")");
      }
    }
    return Status::Ok();
  }

  // postprocess.instances.seed_*: model-predicted watershed seeds.
  Status Seeds(const YAML::Node& instances, PostprocessRecipe& post) const {
    const std::string path = "postprocess.instances";
    if (!instances["seed_channel"]) {
      for (std::string_view key : {"seed_threshold", "min_seed_area"}) {
        if (instances[std::string(key)]) {
          return Error(instances[std::string(key)],
                       "'" + Join(path, key) + "' needs '" + Join(path, "seed_channel") + "'");
        }
      }
      return Status::Ok();
    }
    const YAML::Node channel = instances["seed_channel"];
    if (post.instances != InstanceMethod::kWatershed) {
      return Error(channel, "'" + Join(path, "seed_channel") + "' needs method 'watershed'");
    }
    if (post.activation == Activation::kSoftmax) {
      return Error(channel, "'" + Join(path, "seed_channel") +
                                "' needs activation 'sigmoid' or 'none', not 'softmax'");
    }
    ORBIT_ASSIGN_OR_RETURN(const int seed_channel, Integer(channel, Join(path, "seed_channel")));
    if (seed_channel < 0) {
      return Error(channel, "'" + Join(path, "seed_channel") + "' must be >= 0");
    }
    if (seed_channel == post.foreground_channel) {
      return Error(channel, "'" + Join(path, "seed_channel") + "' (" +
                                std::to_string(seed_channel) +
                                ") must differ from 'postprocess.foreground_channel'");
    }
    post.seed_channel = seed_channel;
    if (instances["seed_threshold"]) {
      ORBIT_ASSIGN_OR_RETURN(post.seed_threshold,
                             Number(instances["seed_threshold"], Join(path, "seed_threshold")));
      if (post.seed_threshold < 0 || post.seed_threshold > 1) {
        return Error(instances["seed_threshold"],
                     "'" + Join(path, "seed_threshold") + "' must be in [0, 1]");
      }
    }
    if (instances["min_seed_area"]) {
      ORBIT_ASSIGN_OR_RETURN(post.min_seed_area,
                             Integer(instances["min_seed_area"], Join(path, "min_seed_area")));
      if (post.min_seed_area < 1) {
        return Error(instances["min_seed_area"],
                     "'" + Join(path, "min_seed_area") + "' must be >= 1");
      }
    }
    return Status::Ok();
  }

  // Checks that need the whole recipe: tensors against pre/post-processing.
  Status CrossCheck(const YAML::Node& root, const ModelRecipe& recipe) const {
    const PreprocessRecipe& pre = recipe.preprocess;
    if (recipe.tile.size % pre.pad_to_multiple != 0) {
      return Error(root["postprocess"],
                   "'postprocess.tile.size' (" + std::to_string(recipe.tile.size) +
                       ") must be a multiple of 'preprocess.pad_to_multiple' (" +
                       std::to_string(pre.pad_to_multiple) + ")");
    }
    const TensorSpec& input = recipe.inputs.front();
    const YAML::Node input_node = root["inputs"][0];
    if (input.dtype != DType::kFloat32) {
      return Error(input_node["datatype"], "'inputs[0].datatype' is " +
                                               std::string(DTypeName(input.dtype)) +
                                               ", but pre-processing produces FP32 only");
    }
    const std::string layout = pre.channels_first ? "NCHW" : "NHWC";
    if (input.shape.size() != 4) {
      return Error(input_node["shape"], "'inputs[0].shape' has " +
                                            std::to_string(input.shape.size()) +
                                            " dimensions, expected 4 (" + layout + ")");
    }
    const int channels = pre.color == ColorMode::kGray ? 1 : 3;
    const std::int64_t declared = input.shape[pre.channels_first ? 1 : 3];
    if (declared != -1 && declared != channels) {
      return Error(input_node["shape"], "'inputs[0].shape' declares " + std::to_string(declared) +
                                            " channels (" + layout +
                                            "), but 'preprocess.color' "
                                            "gives " +
                                            std::to_string(channels));
    }
    const TensorSpec& output = recipe.outputs.front();
    const YAML::Node output_node = root["outputs"][0];
    if (output.dtype != DType::kFloat32) {
      return Error(output_node["datatype"], "'outputs[0].datatype' is " +
                                                std::string(DTypeName(output.dtype)) +
                                                ", but post-processing reads FP32 only");
    }
    if (output.shape.size() != 4) {
      return Error(output_node["shape"], "'outputs[0].shape' has " +
                                             std::to_string(output.shape.size()) +
                                             " dimensions, expected 4 (NCHW)");
    }
    const std::int64_t classes = output.shape[1];
    const PostprocessRecipe& post = recipe.postprocess;
    if (classes > 0 && post.activation != Activation::kSoftmax &&
        post.foreground_channel >= classes) {
      return Error(root["postprocess"]["foreground_channel"],
                   "'postprocess.foreground_channel' (" + std::to_string(post.foreground_channel) +
                       ") is not one of the output's " + std::to_string(classes) + " channel(s)");
    }
    if (classes != -1 && post.seed_channel && *post.seed_channel >= classes) {
      return Error(root["postprocess"]["instances"]["seed_channel"],
                   "'postprocess.instances.seed_channel' (" + std::to_string(*post.seed_channel) +
                       ") is not one of the output's " + std::to_string(classes) + " channel(s)");
    }
    if (recipe.postprocess.activation == Activation::kSoftmax && classes != -1) {
      if (classes < 2) {
        return Error(output_node["shape"], "'outputs[0].shape' has " + std::to_string(classes) +
                                               " channel(s), softmax needs at least 2 classes");
      }
      if (recipe.postprocess.background_class >= classes) {
        return Error(root["postprocess"]["background_class"],
                     "'postprocess.background_class' (" +
                         std::to_string(recipe.postprocess.background_class) +
                         ") is not one of the output's " + std::to_string(classes) + " classes");
      }
    }
    return Status::Ok();
  }

  Result<ModelRecipe> Parse(const YAML::Node& root) const {
    ORBIT_RETURN_IF_ERROR(CheckMapping(
        root, "",
        // `serving` (batching, instances, version policy) belongs to the serving layer, which
        // parses and validates it from the same file; vision only lets it through.
        {"name", "description", "precision", "inputs", "outputs", "preprocess", "postprocess",
         "serving"}));
    for (std::string_view required : {"name", "inputs", "outputs"}) {
      if (!root[std::string(required)]) {
        return Error(root, "'" + std::string(required) + "' is required");
      }
    }
    ModelRecipe recipe;
    ORBIT_ASSIGN_OR_RETURN(recipe.name, String(root["name"], "name"));
    if (recipe.name.empty()) return Error(root["name"], "'name' is empty");
    for (const char c : recipe.name) {
      const bool ok =
          std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.';
      if (!ok) {
        return Error(root["name"],
                     "'name' is '" + recipe.name + "'; use only letters, digits, '_', '-' and '.'");
      }
    }
    if (root["description"]) {
      ORBIT_ASSIGN_OR_RETURN(recipe.description, String(root["description"], "description"));
    }
    if (root["precision"]) {
      ORBIT_ASSIGN_OR_RETURN(recipe.precision, OneOf<Precision>(root["precision"], "precision",
                                                                {{"fp32", Precision::kFp32},
                                                                 {"fp16", Precision::kFp16},
                                                                 {"int8", Precision::kInt8}}));
    }
    ORBIT_ASSIGN_OR_RETURN(recipe.inputs, Tensors(root["inputs"], "inputs"));
    ORBIT_ASSIGN_OR_RETURN(recipe.outputs, Tensors(root["outputs"], "outputs"));
    ORBIT_ASSIGN_OR_RETURN(recipe.preprocess, Preprocess(root["preprocess"]));
    ORBIT_RETURN_IF_ERROR(Postprocess(root["postprocess"], recipe.postprocess, recipe.tile));
    recipe.preprocess.dtype = recipe.inputs.front().dtype;
    ORBIT_RETURN_IF_ERROR(CrossCheck(root, recipe));
    return recipe;
  }

 private:
  std::string source_;
};

}  // namespace

std::string_view PrecisionName(Precision precision) {
  switch (precision) {
    case Precision::kFp32:
      return "fp32";
    case Precision::kFp16:
      return "fp16";
    case Precision::kInt8:
      return "int8";
  }
  return "fp32";
}

Result<ModelRecipe> ParseModelRecipe(std::string_view yaml_text, std::string_view source) {
  const RecipeParser parser(source);
  try {
    const YAML::Node root = YAML::Load(std::string(yaml_text));
    return parser.Parse(root);
  } catch (const YAML::Exception& e) {
    std::string message = std::string(source) + ": invalid YAML";
    if (e.mark.line >= 0) {
      message += " at line " + std::to_string(e.mark.line + 1) + ", column " +
                 std::to_string(e.mark.column + 1);
    }
    return InvalidArgumentError(message + ": " + e.msg);
  }
}

Result<ModelRecipe> LoadModelRecipe(const std::filesystem::path& orbit_yaml) {
  ORBIT_ASSIGN_OR_RETURN(const std::string text, ReadFileBytes(orbit_yaml, 1 << 20));
  return ParseModelRecipe(text, orbit_yaml.string());
}

}  // namespace orbit::vision
