"""Prefect flow of the package stage (``python -m flows.package``)."""

from flows.stage import main, stage_flow
from genre.stages import package

package_flow = stage_flow("package", package.run)

if __name__ == "__main__":
    main(package_flow)
