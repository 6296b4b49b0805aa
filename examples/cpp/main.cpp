// Loads a neural ODE exported by NDE Studio (`ndestudio export`) and prints its trajectory.
//
//   ndestudio_client MODEL.pt T0 T1 N Y0...
//
// solves from the initial state Y0 (one number per channel, in the data's units) and prints
// N lines "t y_1 ... y_C" at N equally spaced times from T0 to T1 (T1 < T0 runs backwards).
// Nothing but libtorch is needed: the solver and the normalisation live inside the file.
#include <torch/script.h>

#include <cstdlib>
#include <iomanip>
#include <iostream>
#include <string>
#include <vector>

int main(int argc, char** argv) {
  if (argc < 6) {
    std::cerr << "usage: " << argv[0] << " MODEL.pt T0 T1 N Y0...\n";
    return 2;
  }
  torch::jit::ExtraFilesMap extra{{"ndestudio/export.json", ""}, {"ndestudio/version", ""}};
  torch::jit::script::Module model;
  try {
    model = torch::jit::load(argv[1], torch::kCPU, extra);
  } catch (const c10::Error& e) {
    std::cerr << "cannot load " << argv[1] << ": " << e.what_without_backtrace() << "\n";
    return 1;
  }
  if (extra["ndestudio/export.json"].find("\"family\": \"ode\"") == std::string::npos) {
    std::cerr << argv[1] << " is not an exported neural ODE\n";
    return 1;
  }
  const double t0 = std::stod(argv[2]);
  const double t1 = std::stod(argv[3]);
  const int64_t n = std::stoll(argv[4]);
  std::vector<double> state;
  for (int i = 5; i < argc; ++i) state.push_back(std::stod(argv[i]));

  // The model computes in the dtype it was trained in; its normalisation buffer tells which.
  const auto dtype = model.attr("loc").toTensor().scalar_type();
  torch::NoGradGuard no_grad;
  auto t = torch::linspace(t0, t1, n, torch::TensorOptions().dtype(dtype));
  auto y0 = torch::tensor(state, torch::kFloat64).to(dtype).unsqueeze(0);
  torch::Tensor path;
  try {
    path = model.forward({y0, t}).toTensor()[0];  // (N, C)
  } catch (const c10::Error& e) {
    std::cerr << "the model refused these inputs: " << e.what_without_backtrace() << "\n";
    return 1;
  }
  auto t64 = t.to(torch::kFloat64);
  auto y64 = path.to(torch::kFloat64);
  std::cout << std::setprecision(17);
  for (int64_t i = 0; i < n; ++i) {
    std::cout << t64[i].item<double>();
    for (int64_t c = 0; c < y64.size(1); ++c) std::cout << ' ' << y64[i][c].item<double>();
    std::cout << '\n';
  }
  std::cerr << "NDE Studio " << extra["ndestudio/version"] << " export, " << y64.size(1)
            << " channels\n";
  return 0;
}
