/** Where the sites' datasets live (locations, not loading). */
export { BUNDLED_FASHION_MNIST_DIR, DEBIAN_FASHION_MNIST_DIR, FASHION_MNIST_FILES, findFashionMnist, visible } from "./fashion-mnist.js";
export { DatasetErrorCode } from "./errors.js";
